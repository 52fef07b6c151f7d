"""The one prompt function shared by the worker and by training.

A prompt is saved as ``prompt.json`` next to every checkpoint, so a model is always served with the
prompt it was trained with, and every summary row can record which prompt made it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

PROMPT_FILE = "prompt.json"
PLACEHOLDER = "{dialogue}"


@dataclass(frozen=True)
class PromptTemplate:
    """A named template with one ``{dialogue}`` placeholder."""

    name: str
    template: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"prompt name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.template, str) or PLACEHOLDER not in self.template:
            raise ValueError(f"prompt template {self.name!r} must contain {PLACEHOLDER}; got {self.template!r}")

    @property
    def version(self) -> str:
        """Name plus a short hash of the text: two different templates never share a version."""
        digest = hashlib.sha256(self.template.encode("utf-8")).hexdigest()[:8]
        return f"{self.name}@{digest}"

    def render(self, dialogue: str) -> str:
        # str.replace, not str.format: templates may contain other braces (JSON examples, few-shot).
        return self.template.replace(PLACEHOLDER, dialogue)


DEFAULT_PROMPT = PromptTemplate(
    name="summarize-v1",
    template="Summarize the following conversation.\n\n{dialogue}\n\nSummary: ",
)


def build_prompt(dialogue: str, template: PromptTemplate = DEFAULT_PROMPT) -> str:
    """The exact model input for ``dialogue`` (``#Person1#: ...`` lines)."""
    return template.render(dialogue)


def save_prompt(template: PromptTemplate, folder: str | Path) -> Path:
    """Write ``prompt.json`` into ``folder`` (created if needed); returns the file's path."""
    path = Path(folder) / PROMPT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"name": template.name, "template": template.template, "version": template.version}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_prompt(folder: str | Path) -> PromptTemplate | None:
    """The template saved in ``folder``, or None when the folder has no ``prompt.json``."""
    path = Path(folder).expanduser() / PROMPT_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return PromptTemplate(name=data["name"], template=data["template"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a valid prompt file ({exc!r}); expected name and template") from exc
