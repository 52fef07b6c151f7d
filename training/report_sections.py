"""Report sections beyond the metric tables: what each system is, how it was scored, single training runs,
prompt experiments and per-stage latency from the store."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from training.report import Section, Table

LIBRARIES = ("torch", "transformers", "peft", "rouge_score", "sacrebleu", "numpy")
LATENCY_STAGES = (
    ("queue_wait_ms", "queue wait (enqueued to generation start)"),
    ("generate_ms", "generation (this job's own share of its batch)"),
    ("delivery_ms", "delivery (posting back to the platform)"),
    ("overhead_ms", "overhead (all the job's time except generating, delivery included)"),
)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Model, adapter, backend, prompt and generation settings from a predictions file's first row."""
    first = Path(path).expanduser().read_text(encoding="utf-8").split("\n", 1)[0]
    row = json.loads(first) if first.strip() else {}
    return {k: row.get(k) for k in ("model", "adapter", "backend", "prompt", "generation")}


def systems_section(files: Mapping[str, str | Path]) -> Section:
    rows = []
    for name, path in files.items():
        meta = read_metadata(path)
        generation = meta["generation"] or {}
        settings = ", ".join(f"{k} {v}" for k, v in generation.items()) or "not recorded"
        rows.append([name, *(str(meta[k] or "-") for k in ("model", "adapter", "backend", "prompt")), settings])
    return Section("Systems", [
        "What produced each prediction file (from the rows `recap eval run` writes; '-' where the file "
        "does not say).",
        Table(["system", "model", "adapter", "backend", "prompt version", "generation settings"], rows),
    ])


def _version(name: str) -> str:
    try:
        return metadata.version(name.replace("_", "-"))
    except metadata.PackageNotFoundError:
        return "not installed"


def scoring_section(references_per_dialogue: float, samples: int, seed: int) -> Section:
    from training.metrics import bleu_signature

    return Section("How it was scored", [
        f"BLEU: sacrebleu corpus BLEU, protocol A signature `{bleu_signature(1)}`, protocol C signature "
        f"`{bleu_signature(max(1, round(references_per_dialogue)))}`. ROUGE: rouge_score F-measure with "
        "stemming; ROUGE-Lsum on summaries split into sentences after . ! and ? (one per line).",
        f"Intervals: 95 % percentile bootstrap over dialogues, {samples} resamples, seed {seed}; differences "
        "use the same resamples for both systems (paired).",
        Table(["library", "version"], [[name, _version(name)] for name in LIBRARIES]),
    ])


def training_section(folder: str | Path) -> Section:
    """One training run's folder: recipe, best checkpoint, validation per epoch."""
    folder = Path(folder).expanduser()
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    args = json.loads((folder / "training_args.json").read_text(encoding="utf-8")).get("recap", {})
    recipe = ", ".join(f"{k} {args.get(k)}" for k in ("method", "model", "epochs", "learning_rate", "batch_size",
                                                      "lora_r", "lora_alpha", "patience") if k in args)
    history = [[str(h["step"]), f"{h.get('epoch') or 0:.2f}", f"{h.get('loss', float('nan')):.3f}",
                *(f"{h.get(k, float('nan')):.2f}" for k in ("rouge1", "rougeL", "bleu"))]
               for h in metrics.get("history", [])]
    return Section(f"Training run: {folder.name}", [
        f"{recipe}. Kept `{metrics.get('best_checkpoint')}` (step {metrics.get('best_step')} of "
        f"{metrics.get('global_step')}{', stopped early' if metrics.get('stopped_early') else ''}), "
        f"best validation ROUGE-L; {metrics.get('seconds', 0):.0f} s, precision {metrics.get('precision')}.",
        Table(["step", "epoch", "validation loss", "ROUGE-1", "ROUGE-L", "BLEU"], history),
    ])


def prompts_section(folder: str | Path) -> Section:
    """A `recap eval prompts --out` folder: one row per template, prompt tokens flagged past 512."""
    result = json.loads((Path(folder).expanduser() / "results.json").read_text(encoding="utf-8"))
    rows = [[t["template"], *(f"{t['protocol_a'][k]:.2f}" for k in ("rouge1", "rouge2", "rougeL", "bleu")),
             f"{t['mean_words']:.1f}", f"{t['max_prompt_tokens']}" + (" (past 512)" if t["past_training_length"]
                                                                       else "")]
            for t in result["templates"]]
    return Section("Prompt experiment", [
        f"Model `{result['model']}`, shots {', '.join(result['shot_ids'])}, "
        f"{'the seed notebook examples exactly, ' if result.get('seed_exact') else ''}"
        f"{len(result.get('target_ids', []))} target dialogue(s); protocol A, 0-100.",
        Table(["template", "ROUGE-1", "ROUGE-2", "ROUGE-L", "BLEU", "mean words", "longest prompt tokens"], rows),
    ])


def latency_section(summaries: Sequence[Any], source: str) -> Section:
    """Per-stage latency percentiles; stages the store does not record yet are left out, never guessed."""
    from training.feedback import percentile

    rows = []
    for column, label in LATENCY_STAGES:
        values = [v for v in (getattr(s, column, None) for s in summaries) if v is not None]
        if values:
            rows.append([label, str(len(values)), *(f"{percentile(values, q):.0f}" for q in (50, 90, 95, 99))])
    if not rows:
        totals = [s.latency_ms for s in summaries if getattr(s, "latency_ms", None) is not None]
        rows.append(["generation of the whole batch (older rows: no per-stage split)", str(len(totals)),
                     *(f"{percentile(totals, q):.0f}" for q in (50, 90, 95, 99))])
    return Section("Latency per stage", [
        f"Milliseconds per job, from {source}; each job counts once, a batched job with its own share.",
        Table(["stage", "jobs", "p50", "p90", "p95", "p99"], rows),
    ])
