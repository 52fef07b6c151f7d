"""Generation search and the offline gate.

``tune_generation`` tries a small grid of generation settings on the validation split and keeps the best
by ROUGE-L, reporting each setting's length ratio (mean words / reference mean words): fine-tuned
Flan-T5 writes summaries about 1.7x longer than DialogSum's, and length alone moves ROUGE by a point.
``gate`` compares a candidate with a baseline on the same test dialogues with a paired bootstrap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from itertools import product
from typing import Any

from training import bootstrap
from training.data import Example
from training.metrics import mean_words, protocol_a
from training.scoring import MetricsError, align
from worker.model.generation import GenerationSettings


def grid(
    base: GenerationSettings, beams: Sequence[int], penalties: Sequence[float], lengths: Sequence[int],
    no_repeat: Sequence[int] = (0,),
) -> list[GenerationSettings]:
    """Greedy (no length penalty: it only acts on beams) and every beam width x penalty, for each length."""
    out = []
    for width, length, ngram in product(beams, lengths, no_repeat):
        for penalty in penalties if width > 1 else (1.0,):
            out.append(replace(base, num_beams=width, length_penalty=penalty, max_new_tokens=length,
                               no_repeat_ngram_size=ngram, do_sample=False))
    return list(dict.fromkeys(out))  # a repeated option value must not be scored twice


def tune_generation(
    runtime: Any, examples: Sequence[Example], candidates: Sequence[GenerationSettings],
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Score each candidate on ``examples`` (one reference each, as validation has); best by ROUGE-L."""
    dialogues = [e.dialogue for e in examples]
    references = [[e.summary] for e in examples]
    reference_words = mean_words([e.summary for e in examples])
    rows = []
    for settings in candidates:
        runtime.generation = settings
        texts = [t.strip() for t in runtime.summarize_batch(dialogues)]
        scores = protocol_a(texts, references).as_dict()
        words = mean_words(texts)
        rows.append({"generation": settings.as_dict(), **{k: round(v, 4) for k, v in scores.items()},
                     "mean_words": round(words, 2), "length_ratio": round(words / max(reference_words, 1e-9), 3)})
        if progress:
            progress(1)
    best = max(range(len(rows)), key=lambda i: rows[i]["rougeL"])  # first of equals: the simpler setting
    return {"n": len(examples), "reference_mean_words": round(reference_words, 2), "results": rows,
            "best": rows[best], "best_generation": candidates[best]}


def tuning_table(result: dict[str, Any]) -> str:
    lines = [
        "| beams | length penalty | max new tokens | no-repeat n-gram | ROUGE-1 | ROUGE-L | mean words "
        "| length ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["results"]:
        g = row["generation"]
        mark = " **best**" if row is result["best"] else ""
        lines.append(
            f"| {g['num_beams']} | {g['length_penalty']} | {g['max_new_tokens']} | {g['no_repeat_ngram_size']} | "
            f"{row['rouge1']:.2f} | {row['rougeL']:.2f}{mark} | {row['mean_words']:.1f} | {row['length_ratio']:.2f} |"
        )
    lines += ["", f"{result['n']} validation dialogues, one reference each; references average "
              f"{result['reference_mean_words']:.1f} words. Length ratio = mean words / reference mean words."]
    return "\n".join(lines)


def gate(
    candidate: dict[str, str], baseline: dict[str, str], examples: Sequence[Example], *, metric: str = "rougeL",
    protocol: str = "protocol_a", samples: int = bootstrap.DEFAULT_SAMPLES, seed: int = bootstrap.DEFAULT_SEED,
) -> dict[str, Any]:
    """Candidate minus baseline on the dialogues both predicted, with paired 95 % intervals, and a verdict:
    ``worse`` when the interval of ``metric`` lies below 0, ``better`` above, else ``no clear difference``."""
    if metric not in bootstrap.METRICS or protocol not in bootstrap.PROTOCOLS:
        raise MetricsError(f"--metric {metric} / --protocol {protocol}: choose from {', '.join(bootstrap.METRICS)}"
                           f" and {', '.join(bootstrap.PROTOCOLS)}")
    references = {e.id: list(e.all_references) for e in examples}
    ids = align(candidate, references, allow_empty=True, partial=True).ids
    missing = [i for i in ids if i not in baseline]
    if missing or set(baseline) - set(candidate):
        raise MetricsError("candidate and baseline must predict the same dialogues "
                           f"({len(missing)} of the candidate's ids have no baseline prediction)")
    refs = [references[i] for i in ids]
    cand = bootstrap.system_stats([candidate[i] for i in ids], refs)
    base = bootstrap.system_stats([baseline[i] for i in ids], refs)
    diff = bootstrap.paired(cand, base, bootstrap.resamples(len(ids), samples, seed))
    chosen = diff[protocol][metric]
    verdict = "worse" if chosen.high < 0 else "better" if chosen.low > 0 else "no clear difference"
    # score / baseline_score: what `recap adapters add --gate` registers beside the difference
    return {"n": len(ids), "metric": metric, "protocol": protocol, "verdict": verdict,
            "score": round(bootstrap.point(cand, protocol, metric), 4),
            "baseline_score": round(bootstrap.point(base, protocol, metric), 4),
            "difference": bootstrap.as_dicts(diff), "samples": samples, "seed": seed}
