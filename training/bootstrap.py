"""95 % bootstrap intervals for ROUGE and BLEU, and paired intervals for differences between systems.

Dialogues are resampled with replacement (all references of a dialogue travel together). ROUGE is a mean
of per-dialogue scores, so a resample's score is the mean of the chosen rows. BLEU is a corpus statistic:
each dialogue keeps its n-gram counts (sacrebleu's own sufficient statistics, as its paired bootstrap
does) and a resample's BLEU is computed from their sum. A paired interval applies the same resamples to
both systems and takes percentiles of the difference, so a system compared with itself gives exactly 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.metrics import ROUGE_KEYS, rouge_pair

METRICS = (*ROUGE_KEYS, "bleu")
PROTOCOLS = ("protocol_a", "protocol_c")
DEFAULT_SAMPLES = 1000
DEFAULT_SEED = 12345


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"estimate": round(self.estimate, 4), "low": round(self.low, 4), "high": round(self.high, 4)}

    def text(self, signed: bool = False) -> str:
        fmt = "+.2f" if signed else ".2f"
        return f"{self.estimate:{fmt}} [{self.low:{fmt}}, {self.high:{fmt}}]"


@dataclass(frozen=True)
class SystemStats:
    """Per-dialogue statistics of one system: ROUGE rows (n x 4) and BLEU count rows, per protocol."""

    rouge: dict[str, np.ndarray]
    bleu: dict[str, np.ndarray]

    @property
    def n(self) -> int:
        return len(self.rouge["protocol_a"])


def _bleu_rows(hyps: Sequence[str], refs: Sequence[Sequence[str | None]]) -> np.ndarray:
    from sacrebleu.metrics import BLEU

    return np.array(BLEU()._extract_corpus_statistics(list(hyps), [list(r) for r in refs]), dtype=np.int64)


def system_stats(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> SystemStats:
    """Score each dialogue once; the bootstrap then only adds rows up."""
    pair_rows = [[rouge_pair(p, r) for r in refs] for p, refs in zip(predictions, references, strict=True)]
    rouge_a = np.array([[np.mean([s[k] for s in row]) for k in ROUGE_KEYS] for row in pair_rows])
    rouge_c = np.array([[max(s[k] for s in row) for k in ROUGE_KEYS] for row in pair_rows])
    # Protocol A: every (prediction, reference) pair is a segment; a dialogue's row sums its pairs' counts.
    pairs = _bleu_rows([p for p, refs in zip(predictions, references, strict=True) for _ in refs],
                       [[r for refs in references for r in refs]])
    owner = np.repeat(np.arange(len(references)), [len(refs) for refs in references])
    bleu_a = np.zeros((len(references), pairs.shape[1]), dtype=np.int64)
    np.add.at(bleu_a, owner, pairs)
    width = max(len(refs) for refs in references)
    streams = [[refs[i] if i < len(refs) else None for refs in references] for i in range(width)]
    bleu_c = _bleu_rows(predictions, streams)
    return SystemStats({"protocol_a": rouge_a, "protocol_c": rouge_c}, {"protocol_a": bleu_a, "protocol_c": bleu_c})


def resamples(n: int, samples: int = DEFAULT_SAMPLES, seed: int = DEFAULT_SEED) -> np.ndarray:
    """``samples`` x ``n`` dialogue indices drawn with replacement; the same seed gives the same draws."""
    return np.random.default_rng(seed).integers(0, n, size=(samples, n))


def _bleu_score(rows: np.ndarray) -> float:
    from sacrebleu.metrics import BLEU

    return float(BLEU()._compute_score_from_stats(rows.sum(0).tolist()).score)


def _samples(stats: SystemStats, protocol: str, metric: str, draws: np.ndarray) -> np.ndarray:
    if metric == "bleu":
        return np.array([_bleu_score(stats.bleu[protocol][row]) for row in draws])
    column = stats.rouge[protocol][:, ROUGE_KEYS.index(metric)]
    return column[draws].mean(axis=1)


def _point(stats: SystemStats, protocol: str, metric: str) -> float:
    if metric == "bleu":
        return _bleu_score(stats.bleu[protocol])
    return float(stats.rouge[protocol][:, ROUGE_KEYS.index(metric)].mean())


def point(stats: SystemStats, protocol: str, metric: str) -> float:
    """The metric on all the dialogues (no resampling)."""
    return _point(stats, protocol, metric)


def _interval(estimate: float, values: np.ndarray) -> Interval:
    low, high = np.percentile(values, [2.5, 97.5])
    return Interval(estimate, float(low), float(high))


def intervals(stats: SystemStats, draws: np.ndarray) -> dict[str, dict[str, Interval]]:
    """Every metric of both protocols with its 95 % percentile interval."""
    return {
        p: {m: _interval(_point(stats, p, m), _samples(stats, p, m, draws)) for m in METRICS} for p in PROTOCOLS
    }


def paired(candidate: SystemStats, baseline: SystemStats, draws: np.ndarray) -> dict[str, dict[str, Interval]]:
    """Candidate minus baseline on the same resampled dialogues, with a 95 % interval."""
    if candidate.n != baseline.n:
        raise ValueError(f"paired bootstrap needs the same dialogues: {candidate.n} vs {baseline.n}")
    out: dict[str, dict[str, Interval]] = {}
    for p in PROTOCOLS:
        out[p] = {}
        for m in METRICS:
            diff = _samples(candidate, p, m, draws) - _samples(baseline, p, m, draws)
            out[p][m] = _interval(_point(candidate, p, m) - _point(baseline, p, m), diff)
    return out


def as_dicts(result: dict[str, dict[str, Interval]]) -> dict[str, Any]:
    return {p: {m: iv.as_dict() for m, iv in metrics.items()} for p, metrics in result.items()}
