"""A tiny, randomly initialised T5 with a small trained tokenizer.

Tests use it so the real ``from_pretrained`` path runs without the hub; operators can use it
(``recap model tiny PATH``) to smoke-test a deployment on a machine without internet. Its folder is
marked (``config.json`` carries ``recap_random_test_model: true``) so the playground can say its
summaries are noise.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path

from bot.playground.model_info import RANDOM_TEST_MODEL_FLAG

SPECIAL_TOKENS = ["<pad>", "</s>", "<unk>"]
PROMPT_WORDS = "Summarize the following conversation. Summary: Person1 Person2 Person3 talk about"
# Added to real data: the exact tokenizer the DialogSum-based tests were written against.
_DATA_SUFFIX = [
    "#Person1#: Hello, how are you today?",
    "#Person2#: I am fine, thanks. Shall we meet for lunch at noon?",
    "Summarize the following conversation. Summary:",
    "Person1 and Person2 talk about the weekend, the meeting and the weather.",
]

# A generated chat corpus (a few thousand words of everyday chat English) for machines without DialogSum,
# so a typical 12-line chat becomes ~100-150 tokens instead of being spelled out letter by letter.
_COMMON_WORDS = """
the be to of and a in that have I it for not on with he as you do at this but his by from they we say her
she or an will my one all would there their what so up out if about who get which go me when make can like
time no just him know take people into year your good some could them see other than then now look only come
its over think also back after use two how our work first well way even new want because any these give day
most us is are was were been has had did does doing said going got made took came saw knew told asked need
needs feel try tried leave call called keep let begin seem help talk turn start show hear play run move live
believe hold bring happen write provide sit stand lose pay meet include continue set learn change lead
understand watch follow stop create speak read allow add spend grow open walk win offer remember love
consider appear buy wait serve die send expect build stay fall cut reach kill remain suggest raise pass sell
require report decide pull thank thanks sorry please yes yeah okay ok sure hi hello hey bye great fine nice
cool right wrong sure maybe really very much many more less little big small long short old young high low
early late hard easy best better worse last next same different own few great important still already yet
again never always often sometimes soon later today tomorrow tonight yesterday morning afternoon evening
night week weekend month Monday Tuesday Wednesday Thursday Friday Saturday Sunday noon hour minute minutes
hours days weeks o'clock pm am home office school work job meeting lunch dinner breakfast coffee tea water
food room house car bus train plane flight hotel ticket money price bill card bank shop store book movie
music game party doctor hospital phone email message chat call team boss manager client customer friend
family mother father kid kids wife husband brother sister name idea problem question answer reason plan
project report docs draft slides notes file files code bug bugs server release launch demo test tests review
update fix version budget invoice order package delivery schedule deadline contract design weather rain sun
city street place country window door table chair computer laptop screen key thing things stuff something
nothing everything anything someone everyone anyone here there where why how what which who whom whose
because though although while until since before after during about around between through under above down
off near far away together again also too enough quite rather almost just only even exactly probably
actually honestly basically I'm I'll I've I'd you're you'll we're we'll they're it's that's there's don't
doesn't didn't can't won't isn't aren't wasn't haven't shouldn't couldn't wouldn't let's what's who's Mr Mrs
Ms Dr Alice Bob Carol Dave Erin Frank Grace Tom Mary John Sarah Mike Anna Ben Ann David got ready done
finished busy free available sick tired happy sad glad afraid worried excited interested sure able fixing
looking working waiting coming trying thinking asking sending checking reviewing restart restarted down back
afraid agree disagree mean means meant guess hope wish wonder worry care mind matter excuse welcome
congratulations
""".split()
_NAMES = "Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory Oscar Peggy Sam Trent Victor Wendy Ann Ben " \
         "Mr. Smith Mrs. Brown Doctor Jones".split()
_OPENERS = ("Hi", "Hello", "Hey", "Good morning", "Thanks", "Sure", "Yes", "No", "Okay", "Well", "Sorry", "Great",
            "Oh", "Right", "Of course", "I see", "Really?", "Cool", "Fine", "Alright")
_SUBJECTS = "I we you they he she it the team everyone my manager our client the group".split(" ")
_VERBS = ("need to", "want to", "have to", "should", "can", "will", "could", "would like to", "forgot to",
          "plan to", "tried to", "am going to", "just", "already", "did not")
_ACTIONS = ("send", "check", "review", "finish", "meet", "call", "book", "fix", "move", "buy", "read", "write",
            "update", "ship", "test", "deploy", "cancel", "share", "print", "order", "clean", "pay", "visit",
            "ask", "tell", "bring", "find", "make", "take", "give", "start", "stop", "help", "try", "open",
            "close", "plan", "schedule", "discuss", "answer", "prepare", "merge", "release", "install")
_OBJECTS = ("the slides", "the report", "the docs", "the code", "the tickets", "the room", "lunch", "dinner",
            "the meeting", "the launch", "the budget", "the invoice", "the train", "the flight", "a hotel",
            "the bug", "the release", "the demo", "the plan", "the contract", "the design", "the email",
            "the files", "the car", "the doctor", "the party", "the movie", "the book", "the coffee",
            "the price", "the order", "the package", "the schedule", "the weekend", "the project", "the notes",
            "the server", "the test results", "the customer", "the kids", "the apartment", "the rent")
_WHEN = ("today", "tomorrow", "tonight", "this morning", "this afternoon", "this evening", "on Monday",
         "on Tuesday", "on Wednesday", "on Thursday", "on Friday", "on Saturday", "on Sunday", "next week",
         "at noon", "at 9", "at 10:30", "at 3 pm", "before the meeting", "after lunch", "by the end of the day",
         "in an hour", "in 5 minutes", "last night", "yesterday", "soon", "later", "this month", "in May")
_QUESTIONS = ("Can you", "Could you", "Will you", "Did you", "Do you want to", "Should we", "Shall we",
              "Why did you", "When can you", "Where do we", "How do I", "What if we", "Who will")
_TAILS = ("I think.", "I guess.", "if that is okay.", "please.", "thanks!", "no problem.", "sounds good.",
          "see you there.", "let me know.", "that works for me.", "I am not sure.", "it is fine.",
          "because it is late.", "and the weather is nice.", "but the docs are not ready yet.",
          "so we are on track.", "again, sorry.", "by email.", "on Slack.", "in the office.", "at home.")


def _chat_line(rng: random.Random) -> str:
    if rng.random() < 0.35:
        return f"{rng.choice(_QUESTIONS)} {rng.choice(_ACTIONS)} {rng.choice(_OBJECTS)} {rng.choice(_WHEN)}?"
    opener = rng.choice(_OPENERS)
    body = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_ACTIONS)} {rng.choice(_OBJECTS)}"
    return f"{opener}, {body} {rng.choice(_WHEN)}, {rng.choice(_TAILS)}"


def _word_salad(rng: random.Random) -> str:
    words = [rng.choice(_COMMON_WORDS) for _ in range(rng.randint(4, 12))]
    return " ".join([words[0].capitalize(), *words[1:]]) + rng.choice(".?!.,")


def generated_corpus(dialogues: int = 300, seed: int = 0) -> list[str]:
    """Deterministic DialogSum-shaped chats (about 40,000 words): templated ``#PersonN#:`` chats with a summary
    line, then lines of common chat words, so most everyday words become one token each."""
    rng = random.Random(seed)
    corpus = [PROMPT_WORDS]
    for _ in range(dialogues):
        lines = [f"#Person{1 + index % 2}#: {_chat_line(rng)}" for index in range(rng.randint(2, 6))]
        names = rng.sample(_NAMES, 2)
        corpus.append("\n".join(lines))
        corpus.append(f"{names[0]} and {names[1]} talk about {rng.choice(_OBJECTS)} {rng.choice(_WHEN)}.")
    corpus.extend(f"#Person{1 + i % 2}#: {_word_salad(rng)} {_word_salad(rng)}" for i in range(5 * dialogues))
    return corpus


def _read_jsonl(path: Path, limit: int) -> list[str]:
    texts: list[str] = []
    with open(path, encoding="utf-8") as handle:
        for index, row in enumerate(handle):
            if index >= limit:
                break
            record = json.loads(row)
            texts.extend(str(record[key]) for key in ("dialogue", "summary") if record.get(key))
    return texts


def corpus_from(data: Path | None, limit: int = 400) -> list[str]:
    """Tokenizer training text: DialogSum (a folder with train.jsonl, or one JSONL file with ``dialogue`` /
    ``summary``), any other text file line by line, or, without ``data``, the generated chats."""
    if data is None:
        return generated_corpus()
    if data.is_dir():
        if not (data / "train.jsonl").is_file():
            raise FileNotFoundError(f"{data} has no train.jsonl (expected a DialogSum folder)")
        return _read_jsonl(data / "train.jsonl", limit) + _DATA_SUFFIX
    if data.suffix == ".jsonl":
        return _read_jsonl(data, limit) + _DATA_SUFFIX
    return [line for line in data.read_text(encoding="utf-8").splitlines() if line.strip()] + _DATA_SUFFIX


def _train_tokenizer(corpus: Iterable[str], vocab_size: int):  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, unk_token="<unk>", shrinking_factor=0.75
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    eos_id = tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", eos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
        model_max_length=512,
    )


def build_tiny_t5(
    folder: str | Path,
    *,
    dialogsum_dir: str | Path | None = None,
    vocab_size: int = 1000,
    seed: int = 0,
) -> Path:
    """Train a small tokenizer, build a 2-layer T5 with random weights, save both to ``folder``.

    ``dialogsum_dir`` is the tokenizer's text (see ``corpus_from``); without it, generated chats."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    folder = Path(folder)
    corpus = corpus_from(Path(dialogsum_dir) if dialogsum_dir else None, limit=400)
    tokenizer = _train_tokenizer(corpus, vocab_size)
    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
        num_heads=4, relative_attention_num_buckets=8, dropout_rate=0.0,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    config.decoder_start_token_id = tokenizer.pad_token_id  # T5's convention; not a typed init argument
    setattr(config, RANDOM_TEST_MODEL_FLAG, True)  # saved in config.json: the playground warns about noise
    model = T5ForConditionalGeneration(config)
    with torch.no_grad():
        # The output layer is tied to the embeddings, so with random weights the decoder start token
        # (<pad>) scored highest against itself and every summary was empty. A zero <pad> row, as
        # padding embeddings often are, gives varied (still meaningless) deterministic output.
        model.shared.weight[tokenizer.pad_token_id].zero_()
    model.generation_config.max_length = None
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_lora(base: str | Path, folder: str | Path, *, r: int = 8, seed: int = 1) -> Path:
    """A LoRA adapter on the tiny T5 with non-zero weights, so it visibly changes the output."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import T5ForConditionalGeneration

    torch.manual_seed(seed)
    model = T5ForConditionalGeneration.from_pretrained(base)
    config = LoraConfig(
        task_type=TaskType.SEQ_2_SEQ_LM, r=r, lora_alpha=r * 4, target_modules=["q", "v"],
        lora_dropout=0.0, init_lora_weights=False,
    )
    peft_model = get_peft_model(model, config)
    folder = Path(folder)
    peft_model.save_pretrained(str(folder))
    return folder
