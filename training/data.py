"""Dialogue/summary data: DialogSum from the hub or a local folder, or any JSONL with dialogue+summary.

``--data`` accepts three things:
* a hub id (``knkarthick/dialogsum``), loaded with ``datasets``;
* a folder holding ``train.jsonl`` / ``validation.jsonl`` / ``test.jsonl`` (DialogSum layout);
* one JSONL file with ``dialogue`` and ``summary`` (e.g. ``recap train export-feedback`` output).
A single file has no splits: :func:`split_file` holds out a validation share by seed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DIALOGSUM_HUB_ID = "knkarthick/dialogsum"


class DataError(ValueError):
    """The data cannot be loaded or is malformed; the message says what to pass to --data."""


@dataclass(frozen=True)
class Example:
    id: str
    dialogue: str
    summary: str
    references: tuple[str, ...] = field(default=())

    @property
    def all_references(self) -> tuple[str, ...]:
        """Every reference summary: all annotators' where the split has them, else the one summary."""
        return self.references or (self.summary,)


def source_kind(source: str) -> str:
    path = Path(source).expanduser()
    if path.is_dir():
        return "folder"
    if path.is_file():
        return "file"
    if path.suffix in {".jsonl", ".json"} or source.startswith((".", "/", "~")):
        raise DataError(f"--data {source}: no such file or folder")
    return "hub"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
    return rows


def _to_example(row: dict[str, Any], index: int, where: str) -> Example:
    dialogue, summary = row.get("dialogue"), row.get("summary")
    refs = tuple(row.get("summaries") or ())
    if not isinstance(dialogue, str) or not dialogue.strip():
        raise DataError(f"{where} row {index + 1}: missing or empty 'dialogue'")
    if any(not isinstance(ref, str) or not ref.strip() for ref in refs):
        raise DataError(f"{where} row {index + 1}: an entry of 'summaries' is empty or not text")
    if not summary and refs:
        summary = refs[0]
    if not isinstance(summary, str) or not summary.strip():
        raise DataError(f"{where} row {index + 1}: missing or empty 'summary' (or 'summaries')")
    return Example(str(row.get("id", f"row_{index}")), dialogue, summary, refs)


def _load_hub(source: str, split: str) -> list[dict[str, Any]]:
    import os

    from worker.model.loading import hub_reachable

    offline = os.environ.get("HF_DATASETS_OFFLINE", "") in ("1", "true", "TRUE")
    # Probe first: datasets retries for a long time on a machine without internet.
    if not offline and not hub_reachable():
        raise DataError(
            f"Cannot reach the Hugging Face hub to load {source!r}. Pass a local folder of "
            "train/validation/test JSONL or a JSONL file with --data (e.g. --data ../shared/data/dialogsum), "
            "or set HF_DATASETS_OFFLINE=1 to use a cached copy."
        )
    try:
        import datasets

        return [dict(row) for row in datasets.load_dataset(source, split=split)]
    except Exception as exc:  # noqa: BLE001 - offline, unknown id, missing split: all need the same advice
        raise DataError(
            f"Cannot load {source!r} split {split!r} from the Hugging Face hub "
            f"({type(exc).__name__}: {exc}). "
            "Pass a local folder of train/validation/test JSONL or a JSONL file with --data, "
            "e.g. --data ../shared/data/dialogsum"
        ) from exc


def _group_hub_test(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The hub's test split repeats each dialogue once per annotator: fold them into ``summaries``."""
    grouped: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = grouped.setdefault(row["dialogue"], {**row, "summaries": []})
        entry["summaries"].append(row["summary"])
    return list(grouped.values())


def load_split(source: str, split: str, limit: int | None = None) -> list[Example]:
    """Examples of one split (``train``, ``validation``, ``test``); a single file is all one split."""
    kind = source_kind(source)
    if kind == "file":
        rows, where = read_jsonl(Path(source).expanduser()), source
    elif kind == "folder":
        path = Path(source).expanduser() / f"{split}.jsonl"
        if not path.is_file():
            found = sorted(p.stem for p in Path(source).expanduser().glob("*.jsonl"))
            raise DataError(
                f"--split {split!r}: no {split}.jsonl in --data {source}; "
                f"splits there: {', '.join(found) or 'none (expected train/validation/test.jsonl)'}"
            )
        rows, where = read_jsonl(path), str(path)
    else:
        rows, where = _load_hub(source, split), f"{source}[{split}]"
        if split == "test" and rows and "summaries" not in rows[0]:
            rows = _group_hub_test(rows)
    examples = [_to_example(row, index, where) for index, row in enumerate(rows)]
    if not examples:
        raise DataError(f"{where}: no examples")
    return examples[:limit] if limit else examples


def split_file(examples: Sequence[Example], val_fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Hold out a validation share of a single JSONL file (at least one example each side)."""
    if len(examples) < 2:
        raise DataError("a single JSONL file needs at least two examples (one is held out for validation)")
    order = list(examples)
    random.Random(seed).shuffle(order)
    n_val = min(len(order) - 1, max(1, round(len(order) * val_fraction)))
    return order[n_val:], order[:n_val]


def train_val(
    source: str,
    *,
    train_limit: int | None,
    val_limit: int | None,
    val_fraction: float,
    seed: int,
    val_split: str = "validation",
) -> tuple[list[Example], list[Example]]:
    """Training rows and validation rows; a folder or hub id validates on ``val_split`` (never on train)."""
    if source_kind(source) == "file":
        train, val = split_file(load_split(source, "train"), val_fraction, seed)
        return (train[:train_limit] if train_limit else train), (val[:val_limit] if val_limit else val)
    if val_split == "train":
        raise DataError("--val-split train: validation must not come from the training rows")
    return load_split(source, "train", train_limit), load_split(source, val_split, val_limit)


@dataclass(frozen=True)
class Mixed:
    rows: list[Example]
    counts: dict[str, Any]


def parse_mix(spec: str) -> tuple[Path, float]:
    """``PATH:WEIGHT`` (weight: how many times each row of PATH is used; fractions are sampled)."""
    path, sep, weight = spec.rpartition(":")
    try:
        value = float(weight) if sep else -1.0
    except ValueError:
        value = -1.0
    if not sep or not path or value <= 0:
        raise DataError(f"--mix {spec!r}: expected PATH:WEIGHT with a weight > 0, e.g. feedback.jsonl:2")
    if not Path(path).expanduser().is_file():
        raise DataError(f"--mix {spec!r}: no such file {path}")
    return Path(path).expanduser(), value


def mix_in(train: Sequence[Example], specs: Sequence[str], seed: int) -> Mixed:
    """``train`` plus each mixed file's rows repeated WEIGHT times (the fraction drawn at random by seed),
    shuffled together. Validation is untouched: mixed rows never choose the model."""
    rows, counts = list(train), {"base": len(train)}
    rng = random.Random(seed)
    for spec in specs:
        path, weight = parse_mix(spec)
        extra = load_split(str(path), "train")
        whole, fraction = int(weight), weight - int(weight)
        chosen = extra * whole + [e for e in extra if rng.random() < fraction]
        rows += [Example(f"mix{len(counts)}_{i}_{e.id}", e.dialogue, e.summary) for i, e in enumerate(chosen)]
        counts[str(path)] = {"rows": len(extra), "weight": weight, "used": len(chosen)}
    if len(counts) > 1:
        rng.shuffle(rows)
    return Mixed(rows, counts)


def parse_shot_id(value: str) -> tuple[str, int | None]:
    """``test_13#2`` -> ("test_13", 2): an example id with an optional 1-based annotator."""
    base, sep, annotator = value.partition("#")
    if not sep:
        return value, None
    if not annotator.isdigit() or int(annotator) < 1:
        raise DataError(f"example id {value!r}: the part after # must be an annotator number (1, 2, 3)")
    return base, int(annotator)


def with_annotator(example: Example, annotator: int | None) -> Example:
    """The example with its summary taken from one annotator (1-based), id marked ``#N``."""
    if annotator is None:
        return example
    refs = example.all_references
    if annotator > len(refs):
        raise DataError(f"{example.id}#{annotator}: this example has {len(refs)} annotator(s)")
    return Example(f"{example.id}#{annotator}", example.dialogue, refs[annotator - 1], example.references)


def find_by_id(examples: Sequence[Example], ids: Sequence[str]) -> list[Example]:
    """Examples by id, in the order given; ``id#N`` picks annotator N's summary."""
    by_id = {example.id: example for example in examples}
    parsed = [parse_shot_id(i) for i in ids]
    missing = [i for i, (base, _) in zip(ids, parsed, strict=True) if base not in by_id]
    if missing:
        raise DataError(f"example ids not found: {', '.join(missing)}")
    return [with_annotator(by_id[base], annotator) for base, annotator in parsed]
