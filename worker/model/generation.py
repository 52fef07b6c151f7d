"""Generation settings: one dataclass for every backend, the worker's config and `generation.json`.

`recap eval tune-generation` writes ``generation.json`` next to an adapter; a runtime that loads that
adapter uses it, except for settings the operator set explicitly (environment, `.env` or a flag).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from config.settings import Settings

GENERATION_FILE = "generation.json"


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 128
    num_beams: int = 1
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    length_penalty: float = 1.0  # > 1 favours longer beams, < 1 shorter (beam search only)
    no_repeat_ngram_size: int = 0  # 0: no limit
    repetition_penalty: float = 1.0  # 1: none
    min_new_tokens: int = 0

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_settings(cls, settings: Settings, folder: str | Path | None = None) -> GenerationSettings:
        """The settings' values, with a ``generation.json`` in ``folder`` filling what was not set explicitly."""
        values = {name: getattr(settings, name) for name in cls.names()}
        saved = load_generation(folder) if folder else None
        if saved is not None:
            explicit = settings.model_fields_set
            values.update({k: v for k, v in saved.as_dict().items() if k not in explicit})
        return cls(**values)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationSettings:
        unknown = set(data) - set(cls.names())
        if unknown:
            raise ValueError(f"unknown generation settings {sorted(unknown)}; allowed: {list(cls.names())}")
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def generate_kwargs(self) -> dict[str, Any]:
        """Arguments for transformers' ``generate``; knobs at their neutral value are left out (else they warn)."""
        kwargs: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "num_beams": self.num_beams,
            "do_sample": self.do_sample,
        }
        if self.do_sample:
            kwargs.update(temperature=self.temperature, top_p=self.top_p)
        if self.num_beams > 1 and self.length_penalty != 1.0:
            kwargs["length_penalty"] = self.length_penalty
        if self.no_repeat_ngram_size:
            kwargs["no_repeat_ngram_size"] = self.no_repeat_ngram_size
        if self.repetition_penalty != 1.0:
            kwargs["repetition_penalty"] = self.repetition_penalty
        if self.min_new_tokens:
            kwargs["min_new_tokens"] = self.min_new_tokens
        return kwargs


def save_generation(generation: GenerationSettings, folder: str | Path) -> Path:
    path = Path(folder) / GENERATION_FILE
    path.write_text(json.dumps(generation.as_dict(), indent=2) + "\n", encoding="utf-8")
    return path


def load_generation(folder: str | Path) -> GenerationSettings | None:
    """``generation.json`` in a local folder, or None (hub ids and folders without one)."""
    path = Path(folder).expanduser() / GENERATION_FILE
    if not path.is_file():
        return None
    try:
        return GenerationSettings.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not a valid generation file: {exc}") from None
