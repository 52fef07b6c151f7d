"""ROUGE and BLEU under two explicit multi-reference protocols.

Every number is on a 0-100 scale. ROUGE is the F-measure from ``rouge_score`` with stemming on
(as in the seed notebook). ROUGE-Lsum needs one sentence per line: texts are split after ``.``, ``!``
and ``?`` (nltk's punkt is not a dependency), newline-joined, then scored; ROUGE-1/2/L are unchanged by
the newlines (rouge_score's tokenizer treats them as spaces). BLEU is ``sacrebleu`` corpus BLEU with its
defaults (signature in :func:`bleu_signature`).

Protocol A -- each (prediction, reference) pair is one row, as in the seed's notebook on the hub's
  1,500-row test split (500 dialogues x 3 annotators):
  * ROUGE: the F-measure of every pair, averaged over all pairs.
  * BLEU: corpus BLEU over all pairs, each pair a (hypothesis, single reference) segment.
Protocol C -- each prediction takes the best of its references:
  * ROUGE: per metric, the highest F-measure over the prediction's references (what
    ``RougeScorer.score_multi`` does), averaged over dialogues.
  * BLEU: multi-reference corpus BLEU with one segment per dialogue: n-gram counts are clipped by
    their maximum count in any reference, and the brevity penalty uses the closest reference length.
With a single reference per dialogue, A and C are identical by construction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import cast

ROUGE_KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")
PROTOCOL_TEXT = {
    "A": "Protocol A: every (prediction, reference) pair scored separately, averaged over pairs "
    "(BLEU: corpus BLEU over the pairs).",
    "C": "Protocol C: each prediction scored against its best reference, averaged over dialogues "
    "(BLEU: multi-reference corpus BLEU).",
}


@dataclass(frozen=True)
class Scores:
    rouge1: float
    rouge2: float
    rougeL: float  # noqa: N815 - the conventional metric name
    rougeLsum: float  # noqa: N815
    bleu: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@lru_cache(maxsize=1)
def _scorer():  # type: ignore[no-untyped-def]
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(ROUGE_KEYS), use_stemmer=True)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_sentences(text: str) -> str:
    """One sentence per line, the form ROUGE-Lsum expects."""
    return "\n".join(part for part in _SENTENCE_END.split(text.strip()) if part)


def bleu_signature(references: int = 1) -> str:
    """sacrebleu's signature of the corpus BLEU used here with ``references`` streams (protocol A: 1)."""
    from sacrebleu.metrics import BLEU

    metric = BLEU()
    metric.corpus_score(["a b c d"], [["a b c d"]] * references)  # the signature needs the reference count
    return str(metric.get_signature())


def rouge_pair(prediction: str, reference: str) -> dict[str, float]:
    """ROUGE F-measures (0-100) of one prediction against one reference (ROUGE-Lsum on split sentences)."""
    scores = _scorer().score(split_sentences(reference), split_sentences(prediction))
    return {key: scores[key].fmeasure * 100 for key in ROUGE_KEYS}


def _check(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} reference lists")
    if not predictions:
        raise ValueError("nothing to score: no predictions")
    for index, (pred, refs) in enumerate(zip(predictions, references, strict=True)):
        if not isinstance(pred, str):
            raise ValueError(f"row {index}: prediction is {type(pred).__name__}, not text")
        # None or "" would reach sacrebleu as "no reference" or a zero-length one: refuse both here.
        if not refs or any(not isinstance(ref, str) or not ref.strip() for ref in refs):
            raise ValueError(f"row {index}: missing or empty reference")


def protocol_a(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> Scores:
    import sacrebleu

    _check(predictions, references)
    hyps = [pred for pred, refs in zip(predictions, references, strict=True) for _ in refs]
    refs = [ref for ref_list in references for ref in ref_list]
    totals = dict.fromkeys(ROUGE_KEYS, 0.0)
    for hyp, ref in zip(hyps, refs, strict=True):
        for key, value in rouge_pair(hyp, ref).items():
            totals[key] += value
    bleu = sacrebleu.corpus_bleu(hyps, [refs]).score
    return Scores(**{key: totals[key] / len(hyps) for key in ROUGE_KEYS}, bleu=bleu, n=len(hyps))


def protocol_c(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> Scores:
    import sacrebleu

    _check(predictions, references)
    totals = dict.fromkeys(ROUGE_KEYS, 0.0)
    for pred, refs in zip(predictions, references, strict=True):
        pair_scores = [rouge_pair(pred, ref) for ref in refs]
        for key in ROUGE_KEYS:
            totals[key] += max(scores[key] for scores in pair_scores)
    width = max(len(refs) for refs in references)
    # sacrebleu takes one stream per reference position. A dialogue with fewer references is padded
    # with None, which sacrebleu drops before counting (BLEU._cache_references); "" would instead count
    # as a real zero-length reference and pull the brevity penalty towards it. _check has already
    # refused empty references, so None only ever means "this dialogue has no reference here".
    streams: list[list[str | None]] = [
        [refs[i] if i < len(refs) else None for refs in references] for i in range(width)
    ]
    # sacrebleu's annotation says Sequence[Sequence[str]] but its code documents and accepts None.
    bleu = sacrebleu.corpus_bleu(list(predictions), cast("list[Sequence[str]]", streams)).score
    n = len(predictions)
    return Scores(**{key: totals[key] / n for key in ROUGE_KEYS}, bleu=bleu, n=n)


def score(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, dict[str, float | int]]:
    """Both protocols, as ``{"protocol_a": {...}, "protocol_c": {...}}``."""
    return {
        "protocol_a": protocol_a(predictions, references).as_dict(),
        "protocol_c": protocol_c(predictions, references).as_dict(),
    }


def mean_words(texts: Sequence[str]) -> float:
    return sum(len(text.split()) for text in texts) / len(texts) if texts else 0.0
