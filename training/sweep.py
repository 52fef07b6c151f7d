"""Grid sweeps from a TOML file: every combination is one training run with its own folder and record.

    method = "lora"                  # or "full"
    [base]                           # any `recap train` option, fixed for all runs
    model = "google/flan-t5-base"
    max_steps = 200
    [grid]                           # lists; each combination is one run
    learning_rate = [1e-3, 3e-4]
    batch_size = [8, 16]
    r = [16, 32]                     # short names: lr, r, alpha, dropout

The summary (summary.md, summary.json) picks the best run by validation ROUGE-L.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import tomllib
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from training.artifacts import write_json
from training.finetune import TrainConfig, TrainingConfigError, train

ALIASES = {"lr": "learning_rate", "r": "lora_r", "alpha": "lora_alpha", "dropout": "lora_dropout"}
SHORT = {"learning_rate": "lr", "batch_size": "bs", "lora_r": "r", "lora_alpha": "alpha"}
_FIELDS = {f.name for f in fields(TrainConfig)} - {"out", "method"}


def _canonical(section: dict[str, Any], where: str) -> dict[str, Any]:
    out = {}
    for key, value in section.items():
        name = ALIASES.get(key, key)
        if name not in _FIELDS:
            raise TrainingConfigError(f"{where}: unknown option {key!r}; known: {', '.join(sorted(_FIELDS))}")
        out[name] = value
    return out


def load_sweep(path: str | Path) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """(method, fixed options, one dict of grid values per run) from a sweep TOML file."""
    path = Path(path).expanduser()
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TrainingConfigError(f"sweep config {path}: {exc}") from exc
    method = config.get("method", "lora")
    if method not in ("full", "lora"):
        raise TrainingConfigError(f"{path}: method must be 'full' or 'lora', not {method!r}")
    base = _canonical(config.get("base", {}), f"{path} [base]")
    grid = _canonical(config.get("grid", {}), f"{path} [grid]")
    if not grid or any(not isinstance(v, list) or not v for v in grid.values()):
        raise TrainingConfigError(f"{path}: [grid] needs at least one option with a non-empty list of values")
    combos = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    return method, base, combos


def run_name(index: int, params: dict[str, Any]) -> str:
    parts = [f"{SHORT.get(k, k)}{v:g}" if isinstance(v, float) else f"{SHORT.get(k, k)}{v}" for k, v in params.items()]
    return f"run-{index:03d}-" + "-".join(str(p).replace("/", "_").replace(",", "_") for p in parts)


class PeakMemory:
    """Peak memory of a block: CUDA's allocator peak on GPU, else this process's RSS sampled every 50 ms."""

    def __init__(self) -> None:
        import torch

        self.cuda = torch.cuda.is_available()
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def measure(self) -> str:
        return "torch.cuda.max_memory_allocated" if self.cuda else "process RSS, sampled every 50 ms"

    def _sample(self) -> None:
        import psutil

        process = psutil.Process()
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, process.memory_info().rss)
            self._stop.wait(0.05)

    def __enter__(self) -> PeakMemory:
        import torch

        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        else:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        if self.cuda:
            self.peak_bytes = torch.cuda.max_memory_allocated()
        else:
            self._stop.set()
            assert self._thread is not None
            self._thread.join()


def _run_one(method: str, base: dict[str, Any], params: dict[str, Any], folder: Path) -> dict[str, Any]:
    config = TrainConfig(method=method, out=str(folder), **{**base, **params})  # type: ignore[arg-type]
    record: dict[str, Any] = {"name": folder.name, "params": params, "config": asdict(config)}
    started = time.perf_counter()
    memory = PeakMemory()
    try:
        with memory:
            result = train(config)
        record.update(
            status="ok",
            metrics=result.metrics["validation"],
            train_loss=result.metrics["train"].get("train_loss"),
        )
    except Exception as exc:  # noqa: BLE001 - one failed run must not lose the others; the record says why
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}", metrics={})
    record.update(
        seconds=round(time.perf_counter() - started, 2),
        peak_memory_mb=round(memory.peak_bytes / 2**20, 1),
        memory_measure=memory.measure,
    )
    write_json(folder / "record.json", record)
    return record


def pick_best(records: list[dict[str, Any]]) -> str | None:
    """The run with the highest validation ROUGE-L; ties (common on short runs) go to the lower
    validation loss, so the choice never depends on the order of the grid."""
    scored = [r for r in records if r["status"] == "ok" and "rougeL" in r["metrics"]]
    if not scored:
        return None
    best = max(scored, key=lambda r: (r["metrics"]["rougeL"], -r["metrics"].get("loss", float("inf"))))
    return str(best["name"])


def run_sweep(config_path: str | Path, out: str | Path) -> dict[str, Any]:
    method, base, combos = load_sweep(config_path)
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    records = [_run_one(method, base, params, out / run_name(i, params)) for i, params in enumerate(combos, 1)]
    summary = {
        "method": method,
        "base": base,
        "grid": list(combos[0]),
        "best": pick_best(records),
        "best_by": "validation rougeL",
        "tie_break": "lower validation loss",
        "runs": records,
    }
    write_json(out / "summary.json", summary)
    (out / "summary.md").write_text(summary_markdown(summary), encoding="utf-8")
    return summary


def summary_markdown(summary: dict[str, Any]) -> str:
    keys = summary["grid"]
    lines = [
        f"# Sweep ({summary['method']}): best by validation ROUGE-L: {summary['best'] or 'none'}",
        "",
        "Validation scores use one reference per dialogue (protocols A and C coincide). "
        "Ties in ROUGE-L go to the lower validation loss.",
        "",
        "| run | " + " | ".join(keys) + " | status | ROUGE-1 | ROUGE-2 | ROUGE-L | BLEU | val loss | train loss | "
        "seconds | peak MB |",
        "|---|" + "---|" * (len(keys) + 9),
    ]
    for r in summary["runs"]:
        m = r["metrics"]
        cells = [
            ("**" + r["name"] + "**") if r["name"] == summary["best"] else r["name"],
            *(str(r["params"][k]) for k in keys),
            r["status"],
            *(f"{m[k]:.2f}" if k in m else "-" for k in ("rouge1", "rouge2", "rougeL", "bleu")),
            f"{m['loss']:.4f}" if "loss" in m else "-",
            f"{r['train_loss']:.4f}" if r.get("train_loss") is not None else "-",
            f"{r['seconds']:.1f}",
            f"{r['peak_memory_mb']:.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    failed = [r for r in summary["runs"] if r["status"] != "ok"]
    lines += [""] + [f"- {r['name']} failed: {r['error']}" for r in failed]
    measure = summary["runs"][0]["memory_measure"] if summary["runs"] else ""
    lines.append(f"Peak memory: {measure}.")
    return "\n".join(lines) + "\n"


def load_summary(folder: str | Path) -> dict[str, Any]:
    return json.loads((Path(folder) / "summary.json").read_text(encoding="utf-8"))
