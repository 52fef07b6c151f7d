"""Throughput of ``summarize_batch`` at batch size 1 versus larger batches, measured in one run.

    .venv/bin/python benchmarks/bench_runtime.py                  # tiny random T5 (built in a temp dir)
    .venv/bin/python benchmarks/bench_runtime.py --model google/flan-t5-base --dialogues 32

Reports dialogues/s and generated tokens/s, and the speed-up against batch size 1 from the same run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "dialogsum" / "test.jsonl"


def _dialogues(path: Path, count: int) -> list[str]:
    if not path.exists():  # still runnable without DialogSum: short synthetic chats
        return [f"#Person1#: Can we move meeting {i} to Friday?\n#Person2#: Yes, at ten." for i in range(count)]
    with open(path, encoding="utf-8") as handle:
        rows = [json.loads(line)["dialogue"] for _, line in zip(range(count), handle, strict=False)]
    return rows


def _measure(runtime, dialogues: list[str], repeats: int) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    runtime.summarize_batch(dialogues[: runtime.batch_size])  # warm this batch shape
    best = float("inf")
    tokens = 0
    calls_before = runtime.model_calls
    for _ in range(repeats):
        started = time.perf_counter()
        outputs = runtime.summarize_detailed(dialogues)
        best = min(best, time.perf_counter() - started)
        tokens = sum(o.output_tokens for o in outputs)
    calls = (runtime.model_calls - calls_before) // repeats
    return len(dialogues) / best, tokens / best, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="hub id or folder (default: a freshly built tiny T5)")
    parser.add_argument("--adapter", default=None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="DialogSum JSONL")
    parser.add_argument("--dialogues", type=int, default=32)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--backend", choices=["transformers", "ctranslate2"], default="transformers")
    parser.add_argument("--compute-type", default="int8", help="CTranslate2 only: int8, int8_float32, float32...")
    args = parser.parse_args()

    from worker.model.runtime import GenerationSettings, TransformersRuntime
    from worker.model.tiny import build_tiny_t5

    with tempfile.TemporaryDirectory() as scratch:
        model = args.model or str(build_tiny_t5(Path(scratch) / "tiny", dialogsum_dir=args.data.parent))
        generation = GenerationSettings(max_new_tokens=args.max_new_tokens)
        if args.backend == "ctranslate2":
            from worker.model.ct2_runtime import Ct2Runtime

            device = "cpu" if args.device == "auto" else args.device
            runtime = Ct2Runtime(model, args.adapter, device=device, compute_type=args.compute_type,
                                 generation=generation, cache_dir=str(Path(scratch) / "cache"))
        else:
            runtime = TransformersRuntime(model, args.adapter, device=args.device, generation=generation)
    dialogues = _dialogues(args.data, args.dialogues)
    long = sum(not runtime.fits(d) for d in dialogues)

    table = Table(
        title=f"summarize_batch on {model} ({runtime.backend_name}, {runtime.device}, {runtime.compute_type}), "
        f"{len(dialogues)} dialogues, {long} map-reduced"
    )
    for column in ("batch size", "generate calls", "dialogues/s", "tokens/s", "vs batch 1"):
        table.add_column(column, justify="right")
    baseline: float | None = None
    for batch_size in sorted(set([1, *args.batch_sizes])):
        runtime.batch_size = batch_size
        per_s, tokens_per_s, calls = _measure(runtime, dialogues, args.repeats)
        baseline = baseline or per_s
        table.add_row(str(batch_size), str(calls), f"{per_s:.2f}", f"{tokens_per_s:.1f}", f"{per_s / baseline:.2f}x")
    Console().print(table)


if __name__ == "__main__":
    main()
