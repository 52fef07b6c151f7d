"""A tiny, randomly initialised T5 with a small trained tokenizer.

Tests use it so the real ``from_pretrained`` path runs without the hub; operators can use it
(``recap model tiny PATH``) to smoke-test a deployment on a machine without internet.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SPECIAL_TOKENS = ["<pad>", "</s>", "<unk>"]
_FALLBACK_CORPUS = [
    "#Person1#: Hello, how are you today?",
    "#Person2#: I am fine, thanks. Shall we meet for lunch at noon?",
    "Summarize the following conversation. Summary:",
    "Person1 and Person2 talk about the weekend, the meeting and the weather.",
]


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


def _corpus(dialogsum_dir: Path | None, limit: int) -> list[str]:
    if dialogsum_dir is None or not (dialogsum_dir / "train.jsonl").exists():
        return _FALLBACK_CORPUS * 4
    import json

    lines: list[str] = []
    with open(dialogsum_dir / "train.jsonl", encoding="utf-8") as handle:
        for index, row in enumerate(handle):
            if index >= limit:
                break
            record = json.loads(row)
            lines.extend([record["dialogue"], record["summary"]])
    return lines + _FALLBACK_CORPUS


def build_tiny_t5(
    folder: str | Path,
    *,
    dialogsum_dir: str | Path | None = None,
    vocab_size: int = 1000,
    seed: int = 0,
) -> Path:
    """Train a small tokenizer, build a 2-layer T5 with random weights, save both to ``folder``."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    folder = Path(folder)
    corpus = _corpus(Path(dialogsum_dir) if dialogsum_dir else None, limit=400)
    tokenizer = _train_tokenizer(corpus, vocab_size)
    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
        num_heads=4, relative_attention_num_buckets=8, dropout_rate=0.0,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    config.decoder_start_token_id = tokenizer.pad_token_id  # T5's convention; not a typed init argument
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
