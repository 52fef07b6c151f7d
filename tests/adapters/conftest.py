"""Fixtures for the multi-adapter tests: a second LoRA on the tiny T5, short dialogues, job builders."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import Settings, set_active_settings


@pytest.fixture(scope="session")
def second_adapter(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """Another LoRA on the tiny T5 (another seed), so the two adapters give different summaries."""
    from worker.model.tiny import build_tiny_lora

    return build_tiny_lora(tiny_model, tmp_path_factory.mktemp("adapters") / "tiny-lora-b", seed=7)


@pytest.fixture(scope="session")
def short_dialogues(dialogsum_dir: Path) -> list[str]:
    """Four DialogSum test dialogues short enough for one batch each (no map-reduce)."""
    found = []
    with open(dialogsum_dir / "test.jsonl", encoding="utf-8") as handle:
        for line in handle:
            dialogue = json.loads(line)["dialogue"]
            if len(dialogue) < 400:
                found.append(dialogue)
            if len(found) == 4:
                break
    return found


@pytest.fixture
def settings(settings: Settings) -> Iterator[Settings]:
    """These tests compare against transformers float32 outputs: serve through the peft pool, not CTranslate2."""
    pinned = settings.model_copy(update={"backend": "transformers"})
    set_active_settings(pinned)
    yield pinned
