"""The one prompt function shared by the worker and training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from worker.model.prompt import (
    DEFAULT_PROMPT,
    PROMPT_FILE,
    PromptTemplate,
    build_prompt,
    load_prompt,
    save_prompt,
)

SEED_TEMPLATE = "Summarize the following conversation.\n\n{dialogue}\n\nSummary: "


def test_default_prompt_is_the_seeds_exact_text() -> None:
    assert DEFAULT_PROMPT.name == "summarize-v1"
    assert DEFAULT_PROMPT.template == SEED_TEMPLATE
    dialogue = "#Person1#: Hi.\n#Person2#: Hello."
    assert build_prompt(dialogue) == SEED_TEMPLATE.format(dialogue=dialogue)


def test_render_keeps_other_braces_and_version_tracks_the_text() -> None:
    custom = PromptTemplate("json-v1", 'Reply as {"summary": ...}\n{dialogue}\n')
    assert build_prompt("#Person1#: x", custom) == 'Reply as {"summary": ...}\n#Person1#: x\n'
    assert custom.version.startswith("json-v1@")
    assert PromptTemplate("json-v1", "Other {dialogue}").version != custom.version
    assert PromptTemplate("json-v1", custom.template).version == custom.version


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    custom = PromptTemplate("brief-v2", "Briefly: {dialogue}\nSummary:")
    path = save_prompt(custom, tmp_path / "checkpoint")
    assert path == tmp_path / "checkpoint" / PROMPT_FILE
    assert json.loads(path.read_text())["version"] == custom.version
    assert load_prompt(tmp_path / "checkpoint") == custom


def test_load_prompt_without_file_is_none(tmp_path: Path) -> None:
    assert load_prompt(tmp_path) is None


def test_template_without_placeholder_is_rejected_naming_the_value() -> None:
    with pytest.raises(ValueError, match=r"\{dialogue\}.*'Summarize: \{text\}'"):
        PromptTemplate("bad", "Summarize: {text}")


def test_broken_prompt_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / PROMPT_FILE).write_text('{"name": "x"}')
    with pytest.raises(ValueError, match="not a valid prompt file"):
        load_prompt(tmp_path)
    (tmp_path / PROMPT_FILE).write_text('{"name": "x", "template": "no placeholder"}')
    with pytest.raises(ValueError, match="no placeholder"):
        load_prompt(tmp_path)
