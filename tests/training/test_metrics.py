"""Metric numbers equal rouge_score/sacrebleu computed directly; protocols A and C differ as defined."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sacrebleu
import typer
from rouge_score import rouge_scorer
from typer.testing import CliRunner

from training.cli import eval_app
from training.metrics import ROUGE_KEYS, protocol_a, protocol_c, score

PRED = "The cat was sitting on the mats near the door."
REFS = ["The cat sat on the mat by the door.", "A dog is running in the park.", "Cats were sitting on mats."]


def _direct(pred: str, ref: str) -> dict[str, float]:
    scorer = rouge_scorer.RougeScorer(list(ROUGE_KEYS), use_stemmer=True)
    return {k: v.fmeasure * 100 for k, v in scorer.score(ref, pred).items()}


def test_protocol_a_averages_every_pair() -> None:
    result = protocol_a([PRED], [REFS])
    pairs = [_direct(PRED, ref) for ref in REFS]
    for key in ROUGE_KEYS:
        assert getattr(result, key) == pytest.approx(sum(p[key] for p in pairs) / 3, abs=1e-9)
    assert result.bleu == pytest.approx(sacrebleu.corpus_bleu([PRED] * 3, [REFS]).score, abs=1e-9)
    assert result.n == 3


def test_protocol_c_takes_the_best_reference() -> None:
    result = protocol_c([PRED], [REFS])
    pairs = [_direct(PRED, ref) for ref in REFS]
    for key in ROUGE_KEYS:
        assert getattr(result, key) == pytest.approx(max(p[key] for p in pairs), abs=1e-9)
    assert result.bleu == pytest.approx(sacrebleu.corpus_bleu([PRED], [[r] for r in REFS]).score, abs=1e-9)
    assert result.n == 1
    a = protocol_a([PRED], [REFS])
    assert result.rouge1 > a.rouge1 and result.rougeL > a.rougeL and result.bleu > a.bleu


def test_single_reference_makes_protocols_equal() -> None:
    both = score([PRED, "a dog runs"], [[REFS[0]], [REFS[1]]])
    assert both["protocol_a"] == both["protocol_c"]


def test_missing_reference_never_reaches_bleu() -> None:
    # None pads shorter reference lists inside protocol C only; a None or blank reference given by a
    # caller is refused instead of being counted as "no reference" or as a zero-length one.
    for refs in (["a dog ran", None], ["a dog ran", " "], []):
        with pytest.raises(ValueError, match="row 0: missing or empty reference"):
            protocol_c(["a dog ran"], [refs])  # type: ignore[list-item]
        with pytest.raises(ValueError, match="row 0: missing or empty reference"):
            protocol_a(["a dog ran"], [refs])  # type: ignore[list-item]


def test_stemming_is_on() -> None:
    assert protocol_a(["cats running"], [["cat run"]]).rouge1 == pytest.approx(100.0)


# Hand-made files with numbers worked out on paper:
# a: "the cat sat down" vs ["the cat sat down", "a dog ran away"]  -> pairs score 100 and 0
# b: "a dog ran away"   vs ["a dog ran away"]                      -> 100
# A: ROUGE = (100 + 0 + 100) / 3; BLEU: every n-gram precision is 2/3 and the lengths match, so 200/3.
# C: both predictions equal one of their references: 100 everywhere.
PREDICTIONS = [{"id": "a", "prediction": "the cat sat down"}, {"id": "b", "prediction": "a dog ran away"}]
REFERENCES = [
    {"id": "a", "dialogue": "#Person1#: hi", "summaries": ["the cat sat down", "a dog ran away"]},
    {"id": "b", "dialogue": "#Person1#: yo", "summary": "a dog ran away"},
]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _app() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(eval_app, name="eval")
    return root


def test_eval_score_json_exact_numbers(tmp_path: Path) -> None:
    preds = _write(tmp_path / "p.jsonl", PREDICTIONS)
    refs = _write(tmp_path / "r.jsonl", REFERENCES)
    result = CliRunner().invoke(
        _app(), ["eval", "score", "--predictions", str(preds), "--references", str(refs), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"protocol_a", "protocol_c"}
    for key in ("rouge1", "rouge2", "rougeL", "rougeLsum", "bleu"):
        assert data["protocol_a"][key] == pytest.approx(200 / 3, abs=1e-9), key
        assert data["protocol_c"][key] == pytest.approx(100.0, abs=1e-9), key
    assert data["protocol_a"]["n"] == 3 and data["protocol_c"]["n"] == 2


# Partial overlaps, worked out on paper (rouge_score leaves words of <= 3 letters unstemmed):
# x: P = "the cat sat on the mat" vs R1 = "the cat sat on a mat" and R2 = "a dog sat"
#    P-R1: ROUGE-1 5/6, ROUGE-2 3/5, LCS 5 -> ROUGE-L 5/6;  P-R2: ROUGE-1 = ROUGE-L = 2/9 (P 1/6, R 1/3), ROUGE-2 0
# y: "a dog ran" vs its only reference "a dog ran": 1 everywhere.
# A, ROUGE-1/L/Lsum: (5/6 + 2/9 + 1) / 3 = 37/54; ROUGE-2: (3/5 + 0 + 1) / 3 = 8/15.
# C, ROUGE-1/L/Lsum: (5/6 + 1) / 2 = 11/12; ROUGE-2: (3/5 + 1) / 2 = 4/5.
# A, BLEU over the 3 pairs: matches/totals per order 9/15, 5/12, 3/9, 1/6 (geometric mean (1/72)^(1/4));
#    hypotheses 15 words, references 12, so no brevity penalty: 100 * 72^(-1/4).
# C, BLEU over 2 segments, counts clipped by the best reference: 8/9, 5/7, 3/5, 1/3 -> (8/63)^(1/4); the
#    closest reference lengths (6 and 3) equal the hypotheses', so no brevity penalty.
OVERLAP_PREDICTIONS = [{"id": "x", "prediction": "the cat sat on the mat"}, {"id": "y", "prediction": "a dog ran"}]
OVERLAP_REFERENCES = [
    {"id": "x", "dialogue": "#Person1#: pets", "summaries": ["the cat sat on a mat", "a dog sat"]},
    {"id": "y", "dialogue": "#Person1#: walk", "summaries": ["a dog ran"]},
]


def test_eval_score_json_partial_overlap_exact_numbers(tmp_path: Path) -> None:
    preds = _write(tmp_path / "p.jsonl", OVERLAP_PREDICTIONS)
    refs = _write(tmp_path / "r.jsonl", OVERLAP_REFERENCES)
    result = CliRunner().invoke(
        _app(), ["eval", "score", "--predictions", str(preds), "--references", str(refs), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    a, c = data["protocol_a"], data["protocol_c"]
    for key in ("rouge1", "rougeL", "rougeLsum"):
        assert a[key] == pytest.approx(100 * 37 / 54, abs=1e-9), key
        assert c[key] == pytest.approx(100 * 11 / 12, abs=1e-9), key
    assert a["rouge2"] == pytest.approx(100 * 8 / 15, abs=1e-9)
    assert c["rouge2"] == pytest.approx(100 * 4 / 5, abs=1e-9)
    assert a["bleu"] == pytest.approx(100 * 72 ** -0.25, abs=1e-9)
    assert c["bleu"] == pytest.approx(100 * (8 / 63) ** 0.25, abs=1e-9)
    assert (a["n"], c["n"]) == (3, 2)


@pytest.mark.parametrize(
    ("predictions", "references", "message"),
    [
        (PREDICTIONS + [{"id": "zzz", "prediction": "x"}], REFERENCES, "zzz"),
        ([{"id": "a", "prediction": " "}, PREDICTIONS[1]], REFERENCES, "empty"),
        (PREDICTIONS, [REFERENCES[0], {"id": "b", "dialogue": "x", "summary": ""}], "no summary"),
        (PREDICTIONS[:1], REFERENCES, "no prediction"),
        (PREDICTIONS, [{**REFERENCES[0], "summaries": ["the cat sat down", " "]}, REFERENCES[1]], "'summaries': a"),
    ],
    ids=["unknown-id", "empty-prediction", "missing-reference", "unpredicted", "one-blank-annotator"],
)
def test_eval_score_reports_problems(tmp_path: Path, predictions: list, references: list, message: str) -> None:
    preds = _write(tmp_path / "p.jsonl", predictions)
    refs = _write(tmp_path / "r.jsonl", references)
    result = CliRunner().invoke(_app(), ["eval", "score", "--predictions", str(preds), "--references", str(refs)])
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output


def test_eval_score_partial_scores_only_predicted(tmp_path: Path) -> None:
    preds = _write(tmp_path / "p.jsonl", PREDICTIONS[:1])
    refs = _write(tmp_path / "r.jsonl", REFERENCES)
    result = CliRunner().invoke(
        _app(), ["eval", "score", "--predictions", str(preds), "--references", str(refs), "--partial"]
    )
    assert result.exit_code == 0, result.output
    assert "Protocol A" in result.stdout and "Protocol C" in result.stdout
