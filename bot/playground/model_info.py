"""What the playground can say about a model folder without loading it (no torch here)."""

from __future__ import annotations

import json
from pathlib import Path

# Set in config.json by `recap model tiny` (worker.model.tiny): the weights are random, summaries are noise.
RANDOM_TEST_MODEL_FLAG = "recap_random_test_model"


def is_random_test_model(model: str | None) -> bool:
    """True when ``model`` is a local folder whose config.json carries the random-test-model flag."""
    if not model:
        return False
    config = Path(model).expanduser() / "config.json"
    try:
        return bool(json.loads(config.read_text(encoding="utf-8")).get(RANDOM_TEST_MODEL_FLAG))
    except (OSError, ValueError, AttributeError):
        return False
