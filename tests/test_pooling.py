"""Pooling: the map-reduce parts of several long dialogues and the short dialogues share generate calls,
and every dialogue still gets exactly the summary it gets alone (greedy, float32), on both backends."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from worker.model.base import plan_batches
from worker.model.longinput import split_dialogue
from worker.model.runtime import GenerationSettings, TransformersRuntime

GEN = GenerationSettings(max_new_tokens=8)
WINDOW = 192
BATCH = 8


def _rows(dialogsum_dir: Path, count: int) -> list[str]:
    with open(dialogsum_dir / "test.jsonl", encoding="utf-8") as handle:
        return [json.loads(next(handle))["dialogue"] for _ in range(count)]


@pytest.fixture(scope="module", params=["transformers", "ctranslate2"])
def runtime(request: pytest.FixtureRequest, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    options = dict(max_input_tokens=WINDOW, generation=GEN, batch_size=BATCH)
    if request.param == "transformers":
        return TransformersRuntime(str(tiny_model), device="cpu", **options)
    from worker.model.ct2_runtime import Ct2Runtime

    return Ct2Runtime(str(tiny_model), compute_type="float32", cache_dir=str(tmp_path_factory.mktemp("ct2")), **options)


def _jobs(runtime, dialogsum_dir: Path) -> tuple[list[str], list[int]]:  # type: ignore[no-untyped-def]
    """Three long dialogues (DialogSum ones, longer than the window) between five short ones."""
    rows = _rows(dialogsum_dir, 5)
    short = ["#Person1#: Lunch at noon?\n#Person2#: Yes.", "#Person1#: Done?\n#Person2#: Almost.",
             "#Person1#: Call me.\n#Person2#: Sure.", "#Person1#: Ready?\n#Person2#: No.",
             "#Person1#: Thanks!\n#Person2#: Any time."]
    long = [rows[1], rows[2], rows[4]]
    dialogues = [short[0], long[0], short[1], short[2], long[1], short[3], long[2], short[4]]
    assert [runtime.fits(d) for d in dialogues] == [True, False, True, True, False, True, False, True]
    return dialogues, [1, 4, 6]


def test_three_long_and_five_short_share_generate_calls(runtime, dialogsum_dir: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    dialogues, long_at = _jobs(runtime, dialogsum_dir)
    alone, calls_alone = [], 0
    for dialogue in dialogues:
        before = runtime.model_calls
        alone.append(runtime.summarize_detailed([dialogue])[0])
        calls_alone += runtime.model_calls - before

    parts = {i: split_dialogue(dialogues[i], runtime.fits) for i in long_at}
    # what each reduce step must read: that dialogue's own part summaries, one per line
    reduce_rows = [
        tuple(runtime._ids([runtime.prompt.render("\n".join(runtime._summarize_round(parts[i])[0]))])[0])
        for i in long_at
    ]
    batches: list[list[list[int]]] = []  # the input rows of every generate call
    real = runtime._generate_ids

    def recording(rows: list[list[int]]) -> list[list[int]]:
        batches.append([list(r) for r in rows])
        return real(rows)

    monkeypatch.setattr(runtime, "_generate_ids", recording)
    pooled = runtime.summarize_detailed(dialogues)

    # every job got its own summary: the text it gets alone, at its own position
    assert [o.text for o in pooled] == [o.text for o in alone]
    assert [(o.parts, o.input_tokens) for o in pooled] == [(o.parts, o.input_tokens) for o in alone]
    leaf_texts = [t for i in range(len(dialogues)) for t in (parts[i] if i in parts else [dialogues[i]])]
    # round one pools the 5 short dialogues and every part; round two, the three reduce steps in one call
    assert len(batches) == math.ceil(len(leaf_texts) / BATCH) + 1 < calls_alone
    owner = {tuple(runtime._ids([runtime.prompt.render(t)])[0]): i
             for i in range(len(dialogues)) for t in (parts[i] if i in parts else [dialogues[i]])}
    call_owners = [{owner[tuple(row)] for row in rows} for rows in batches[:-1]]
    assert any(len(o & set(long_at)) >= 2 and o - set(long_at) for o in call_owners)  # several long + short
    # the last call holds the three reduce steps, each made of that dialogue's own part summaries
    assert sorted(tuple(r) for r in batches[-1]) == sorted(reduce_rows)
    for i in range(len(dialogues)):  # model_calls: the calls this dialogue's own texts went into
        own = {c for c, rows in enumerate(batches[:-1]) if any(owner[tuple(r)] == i for r in rows)}
        assert pooled[i].model_calls == len(own) + (1 if i in parts else 0)


def test_batches_respect_the_token_budget() -> None:
    lengths = [100, 30, 500, 60, 90, 10]
    batches = plan_batches(lengths, batch_size=8, batch_tokens=240)
    assert [[lengths[i] for i in b] for b in batches] == [[10, 30, 60], [90, 100], [500]]
    assert all(len(b) * max(lengths[i] for i in b) <= 240 or len(b) == 1 for b in batches)
    assert plan_batches(lengths, batch_size=2, batch_tokens=10_000) == [[5, 1], [3, 4], [0, 2]]
