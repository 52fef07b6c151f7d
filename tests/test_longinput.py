"""Long dialogues: split on turn boundaries, summarized in parts, then reduced. Never cut."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from worker.model.longinput import WindowTooSmallError, map_reduce, split_dialogue, split_turn
from worker.model.prompt import build_prompt
from worker.model.runtime import GenerationSettings, TransformersRuntime

TURN = re.compile(r"^#Person\d+#: \S")
BATCH = 4


@pytest.fixture(scope="module")
def runtime(tiny_model: Path) -> TransformersRuntime:
    return TransformersRuntime(
        str(tiny_model),
        max_input_tokens=512,
        generation=GenerationSettings(max_new_tokens=12),
        batch_size=BATCH,
    )


def _long_dialogue(dialogsum_dir: Path, runtime: TransformersRuntime, tokens: int) -> str:
    dialogues: list[str] = []
    with open(dialogsum_dir / "test.jsonl", encoding="utf-8") as handle:
        for row in handle:
            dialogues.append(json.loads(row)["dialogue"])
            if runtime.count_tokens("\n".join(dialogues)) >= tokens:
                break
    return "\n".join(dialogues)


def _words(pieces: list[str]) -> list[str]:
    return [w for piece in pieces for w in re.sub(r"^#Person\d+#:", "", piece, flags=re.M).split()]


def test_long_dialogue_parts_end_on_turn_boundaries(runtime: TransformersRuntime, dialogsum_dir: Path) -> None:
    dialogue = _long_dialogue(dialogsum_dir, runtime, 3000)
    assert runtime.count_tokens(build_prompt(dialogue)) >= 3000
    parts = split_dialogue(dialogue, runtime.fits)
    assert len(parts) >= 6
    turns = dialogue.splitlines()
    assert [line for part in parts for line in part.splitlines()] == turns  # every turn, in order, whole
    for index, part in enumerate(parts):
        assert all(TURN.match(line) for line in part.splitlines())
        assert runtime.count_tokens(build_prompt(part)) <= 512
        if index + 1 < len(parts):  # greedy: the next turn would not have fitted
            assert not runtime.fits(part + "\n" + parts[index + 1].splitlines()[0])


@pytest.mark.slow
def test_map_reduce_counts_every_model_call(
    runtime: TransformersRuntime, dialogsum_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialogue = _long_dialogue(dialogsum_dir, runtime, 3000)
    parts = split_dialogue(dialogue, runtime.fits)
    seen: list[tuple[list[str], list[str]]] = []  # (inputs, summaries) of each summarizing round
    real = runtime._summarize_round

    def recording(texts: list[str]) -> tuple[list[str], list[int]]:
        summaries, calls = real(texts)
        seen.append((texts, summaries))
        return summaries, calls

    monkeypatch.setattr(runtime, "_summarize_round", recording)
    before = runtime.model_calls
    (output,) = runtime.summarize_detailed([dialogue])
    # leaf batches + one reduce call (12-token part summaries joined fit the window at once)
    expected = math.ceil(len(parts) / BATCH) + 1
    assert (output.parts, output.model_calls) == (len(parts), expected)
    assert runtime.model_calls - before == expected
    assert output.input_tokens >= 3000 and output.text
    # Round one summarizes exactly the parts; the reduce round, their summaries one per line.
    assert [texts for texts, _ in seen] == [parts, ["\n".join(seen[0][1])]]
    assert output.text == seen[1][1][0]


def test_short_and_long_dialogues_in_one_batch(runtime: TransformersRuntime, dialogsum_dir: Path) -> None:
    long = _long_dialogue(dialogsum_dir, runtime, 1200)
    short = ["#Person1#: Lunch at noon?\n#Person2#: Yes, see you.", "#Person1#: Done?\n#Person2#: Almost."]
    before = runtime.model_calls
    outputs = runtime.summarize_detailed([short[0], long, short[1]])
    leaf = len(split_dialogue(long, runtime.fits))
    assert [o.parts for o in outputs] == [1, leaf, 1]
    assert outputs[0].model_calls == outputs[2].model_calls == 1  # both short ones shared one call
    # pooled: the short ones ride in the first batch of the long one's parts, then one reduce call
    assert runtime.model_calls - before == math.ceil((leaf + 2) / BATCH) + 1 == outputs[1].model_calls


@pytest.mark.slow
def test_reduce_recurses_while_still_too_long(tiny_model: Path, dialogsum_dir: Path) -> None:
    small = TransformersRuntime(
        str(tiny_model),
        max_input_tokens=64,
        generation=GenerationSettings(max_new_tokens=4),
        batch_size=BATCH,
    )
    dialogue = _long_dialogue(dialogsum_dir, small, 500)
    result = map_reduce(dialogue, small._summarize_texts, small.fits)
    assert result.parts == len(split_dialogue(dialogue, small.fits))
    assert len(result.rounds) >= 3 and result.rounds[0] == result.parts and result.rounds[-1] == 1
    assert result.model_calls == sum(math.ceil(n / BATCH) for n in result.rounds) == small.model_calls
    capped = map_reduce(dialogue, small._summarize_texts, small.fits, max_depth=1)
    assert capped.rounds == [capped.parts]  # depth cap: every part summary kept, one per line
    assert len(capped.text.splitlines()) == capped.parts


@pytest.mark.slow
def test_too_long_turn_is_split_on_sentences_not_cut(runtime: TransformersRuntime) -> None:
    sentences = [f"Item {i} of the plan needs a careful review by Friday." for i in range(80)]
    turn = "#Person2#: " + " ".join(sentences)
    assert not runtime.fits(turn)
    pieces = split_dialogue("#Person1#: Tell me everything.\n" + turn + "\n#Person1#: Thanks.", runtime.fits)
    assert len(pieces) >= 2 and all(runtime.fits(p) for p in pieces)
    lines = [line for p in pieces for line in p.splitlines()]
    assert lines[0] == "#Person1#: Tell me everything." and lines[-1] == "#Person1#: Thanks."
    assert all(line.startswith("#Person2#: Item") and line.endswith("Friday.") for line in lines[1:-1])
    assert " ".join(line.removeprefix("#Person2#: ") for line in lines[1:-1]) == " ".join(sentences)
    (output,) = runtime.summarize_detailed([turn])
    assert output.parts >= 2


def test_sentence_without_punctuation_splits_on_words_then_characters() -> None:
    def fits(text: str) -> bool:
        return len(text) <= 60

    words = [f"w{i}" for i in range(80)] + ["x" * 130] + ["end"]
    pieces = split_turn("#Person1#: " + " ".join(words), fits)
    assert all(fits(p) and p.startswith("#Person1#: ") for p in pieces)
    assert "".join(_words(pieces)) == "".join(words)  # nothing lost, the blob cut only where it must be
    assert _words(pieces)[:80] == words[:80]


def test_window_smaller_than_the_prompt_is_an_error() -> None:
    with pytest.raises(WindowTooSmallError):
        split_dialogue("#Person1#: hello there", lambda text: len(text) < 5)
