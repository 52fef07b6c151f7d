"""The `recap` command. Heavy imports (torch, the platform SDKs) happen inside the commands that need them."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from bot.store_cli import upgrade_command
from config.settings import Settings, load_settings, set_active_settings

app = typer.Typer(help="Recap: summarize Slack and Discord conversations with Flan-T5 + LoRA.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
store_app = typer.Typer(help="Maintain the store.", no_args_is_help=True)
model_app = typer.Typer(help="Model utilities.", no_args_is_help=True)
app.add_typer(store_app, name="store")
app.add_typer(model_app, name="model")
console = Console(stderr=True)

# Errors whose message is written for a person: shown without a traceback.
FRIENDLY_ERRORS = {
    "ConfigError", "ConversationFormatError", "EmptyConversationError", "ModelLoadError",
    "QueueUnavailableError", "StoreError", "PayloadError", "FileNotFoundError", "IsADirectoryError",
    "DataError", "MetricsError", "TrainingConfigError",
    "StoreUnavailableError", "InputTooLongError", "QueueBusyError", "QueueOutOfMemoryError", "QueueMaxClientsError",
    "ViaQueueError", "DemoStartError", "AdapterRegistryError", "GateFileError",
}

ModelOpt = Annotated[str | None, typer.Option("--model", help="Base model hub id or folder (RECAP_MODEL).")]
AdapterOpt = Annotated[str | None, typer.Option("--adapter", help="LoRA adapter folder (RECAP_ADAPTER).")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="auto, plain, dialogsum, slack or discord.")]


def settings_with(**overrides: Any) -> Settings:
    """Validated settings with CLI overrides applied, made active for this process."""
    settings = load_settings(**{key: value for key, value in overrides.items() if value is not None})
    set_active_settings(settings)
    from config.logging import setup_logging

    setup_logging(settings.log_level)
    return settings


def read_input(source: str) -> tuple[bytes, str | None]:
    if source == "-":
        return sys.stdin.buffer.read(), None
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"No such file: {source}")
    return path.read_bytes(), path.name


def _dialogue_from(source: str, fmt: str) -> Any:
    from bot.dialogue import format_dialogue, parse_conversation

    data, name = read_input(source)
    return format_dialogue(parse_conversation(data, filename=name, fmt=fmt))


@app.command("format")
def format_command(file: Annotated[str, typer.Argument(help="Conversation file, or - for stdin.")],
                   fmt: FormatOpt = "auto") -> None:
    """Print exactly what the model would see, so you can check what leaves your chat."""
    dialogue = _dialogue_from(file, fmt)
    typer.echo(dialogue.text)


@app.command("summarize")
def summarize_command(
    file: Annotated[str, typer.Argument(help="Conversation file, or - for stdin.")],
    fmt: FormatOpt = "auto", model: ModelOpt = None, adapter: AdapterOpt = None,
    via_queue: Annotated[bool, typer.Option(help="Go through Redis and a running `recap worker`.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --via-queue.")] = 300,
) -> None:
    """Print the summary of a conversation (for scripts)."""
    settings = settings_with(model=model, adapter=adapter)
    dialogue = _dialogue_from(file, fmt)
    if via_queue:
        from bot.playground.service import summarize_via_queue

        typer.echo(summarize_via_queue(dialogue, settings, platform="cli", timeout_s=timeout))
        return
    from bot.dialogue import restore_names
    from worker.model.runtime import get_runtime

    with console.status("Loading the model…"):
        runtime = get_runtime(settings)
    with console.status(f"Summarizing {dialogue.message_count} messages…"):
        text = runtime.summarize_batch([dialogue.text])[0]
    typer.echo(restore_names(text, dialogue.speakers))


@app.command("worker")
def worker_command(model: ModelOpt = None, adapter: AdapterOpt = None,
                   burst: Annotated[bool, typer.Option(help="Exit when the queue is empty.")] = False,
                   max_wait: Annotated[float | None, typer.Option(
                       "--max-wait", help="Give up if Redis does not answer within this many seconds at start-up "
                                          "(default: wait for ever).")] = None) -> None:
    """Load the model once, then summarize queued jobs (no fork per job; SIGTERM finishes the current job)."""
    settings = settings_with(model=model, adapter=adapter)
    from worker.main import run_worker

    run_worker(settings, burst=burst, max_wait_s=max_wait)


@app.command("demo")
def demo_command(
    model: ModelOpt = None, adapter: AdapterOpt = None,
    port: Annotated[int | None, typer.Option(help="Playground port (RECAP_DEMO_PORT).")] = None,
    host: Annotated[str | None, typer.Option(help="Bind address (RECAP_DEMO_HOST).")] = None,
    worker: Annotated[bool, typer.Option(help="Start a worker process too.")] = True,
) -> None:
    """Start the local playground: paste a conversation, get a summary, rate it."""
    settings = settings_with(model=model, adapter=adapter, demo_port=port, demo_host=host)
    from bot.playground.launch import DemoStartError, run_demo

    try:
        if worker:
            _check_model_folders(settings)
        run_demo(settings, start_worker=worker)
    except (DemoStartError, _model_load_error()) as exc:
        console.print(f"[red]The demo cannot start:[/red] {exc}\n\n{OFFLINE_ROUTE}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


OFFLINE_ROUTE = (
    "Without internet, build a tiny test model (random weights: its summaries are noise, but the whole path runs) "
    "and point the demo at it:\n"
    "  .venv/bin/recap model tiny ./tiny-t5\n"
    "  .venv/bin/recap demo --model ./tiny-t5\n"
    "For real summaries, download a model on a machine with internet "
    "(hf download google/flan-t5-base --local-dir ./flan-t5-base) and use --model ./flan-t5-base."
)


def _model_load_error() -> type[Exception]:
    from worker.model.loading import ModelLoadError

    return ModelLoadError


def _check_model_folders(settings: Settings) -> None:
    """Seconds, not a worker start-up: a local model or adapter path that is no saved model fails here."""
    from worker.model.loading import ADAPTER_SETTING, MODEL_SETTING, local_folder

    local_folder(settings.model, MODEL_SETTING, "config.json")
    if settings.adapter:
        local_folder(settings.adapter, ADAPTER_SETTING, "adapter_config.json")


@app.command("config")
def config_command() -> None:
    """Print the effective settings, secrets redacted."""
    settings = settings_with()
    for name, value in settings.redacted().items():
        typer.echo(f"{name}={value}")


@app.command("doctor")
def doctor_command(model: ModelOpt = None, adapter: AdapterOpt = None,
                   skip_model: Annotated[bool, typer.Option(help="Do not load the model.")] = False,
                   fix: Annotated[bool, typer.Option(help="Upgrade the store if it needs it.")] = False) -> None:
    """Check config, Redis, the store and the model, and say what to fix."""
    from recap.doctor import run_checks

    ok = run_checks(lambda: settings_with(model=model, adapter=adapter), console, load_model=not skip_model, fix=fix)
    raise typer.Exit(0 if ok else 1)


@store_app.command("purge")
def purge_command() -> None:
    """Delete summaries and feedback older than RECAP_RETENTION_DAYS."""
    settings = settings_with()
    from bot.store import Store

    removed = Store.from_settings(settings).purge()
    typer.echo(f"Removed {removed} summaries older than {settings.retention_days} days.")


store_app.command("upgrade")(upgrade_command)


def _tiny_data(data: Path | None) -> Path | None:
    """--data, else DialogSum at RECAP_DIALOGSUM_DIR when it is there, else None (generated chats)."""
    if data is not None:
        if not data.exists():
            raise FileNotFoundError(f"No such file or folder for --data: {data}")
        return data
    configured = os.environ.get("RECAP_DIALOGSUM_DIR")
    if configured and (Path(configured) / "train.jsonl").is_file():
        return Path(configured)
    return None


@model_app.command("tiny")
def tiny_command(
    folder: Annotated[Path, typer.Argument(help="Where to save it.")],
    data: Annotated[Path | None, typer.Option(help="Tokenizer text: a DialogSum folder, a JSONL file with "
                                                   "dialogue/summary, or a text file (default: RECAP_DIALOGSUM_DIR "
                                                   "when set, else chats Recap generates).")] = None,
) -> None:
    """Build a tiny random T5 (for smoke tests on machines without internet; its summaries are noise)."""
    from worker.model.tiny import build_tiny_t5

    source = _tiny_data(data)
    with console.status("Building a tiny T5…"):
        path = build_tiny_t5(folder, dialogsum_dir=source, vocab_size=2000)
    typer.echo(f"Saved a tiny model with random weights (its summaries are noise) to {path}; its tokenizer "
               f"learned from {source or 'generated chats'}. Try: .venv/bin/recap demo --model {path}")


_mounted = False


def _mount_optional() -> None:
    """Sub-commands owned by other packages, added once per process."""
    global _mounted
    if not _mounted:
        from recap import mounts

        mounts.mount(app)
        _mounted = True


def main(argv: list[str] | None = None) -> None:
    """Standalone mode: click prints usage errors briefly (exit 2), honours typer.Exit, and never turns a
    command's return value into the exit status."""
    _mount_optional()
    try:
        app(args=argv, standalone_mode=True, prog_name="recap")
    except Exception as exc:
        if type(exc).__name__ not in FRIENDLY_ERRORS:
            raise
        console.print(f"[red]Error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
