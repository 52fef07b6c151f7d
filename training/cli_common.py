"""What the train, eval and report commands share: the typer apps, option types, error handling."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from training.data import DIALOGSUM_HUB_ID

train_app = typer.Typer(help="Fine-tune (full or LoRA), sweep, export opted-in feedback.", no_args_is_help=True)
eval_app = typer.Typer(help="Prompt experiments, scoring, evaluation runs, comparisons.", no_args_is_help=True)

# Exceptions whose message is written for a person: printed without a traceback, exit status 2.
FRIENDLY = {
    "DataError",
    "MetricsError",
    "TrainingConfigError",
    "ModelLoadError",
    "StoreError",
    "StoreUnavailableError",
    "ConfigError",
    "FileNotFoundError",
}


@contextmanager
def friendly_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        if type(exc).__name__ not in FRIENDLY:
            raise
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from exc


def comma_list(value: str) -> list[str]:
    """The items of a comma-separated option, stripped, empty ones dropped."""
    return [item.strip() for item in value.split(",") if item.strip()]


def write_result(out: Path, stem: str, result: dict[str, Any], markdown: str) -> None:
    """``stem``.json (the whole result) and ``stem``.md (its table) in ``out``, created if needed."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (out / f"{stem}.md").write_text(markdown + "\n", encoding="utf-8")


Model = Annotated[str, typer.Option(help="Base model: hub id or local folder.")]
Data = Annotated[
    str,
    typer.Option(help="Hub id, folder of train/validation/test JSONL, or one JSONL file with dialogue and summary."),
]
Out = Annotated[Path, typer.Option(help="Output folder.")]
Limit = Annotated[int | None, typer.Option(help="Use only the first N examples.")]
DEFAULT_DATA = DIALOGSUM_HUB_ID


def open_store(store_url: str | None) -> Any:
    """The store these commands only read: a missing SQLite file is a StoreError ("no store at …"), never
    a new empty store."""
    from bot.store import Store

    if store_url:
        return Store.open_existing(store_url)
    from config.settings import load_settings

    return Store.from_settings(load_settings(), create=False)


def store_label(store: Any) -> str:
    """The store's URL with any password hidden, for "which store did this read" lines."""
    return str(getattr(store, "display_url", None) or store.url)


StoreUrl = Annotated[str | None, typer.Option(help="SQLAlchemy URL of the store (default RECAP_STORE_URL).")]
