"""The `recap` command. Heavy imports (torch, the platform SDKs) happen inside the commands that need them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

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
    from bot.playground.launch import run_demo

    run_demo(settings, start_worker=worker)


@app.command("config")
def config_command() -> None:
    """Print the effective settings, secrets redacted."""
    settings = settings_with()
    for name, value in settings.redacted().items():
        typer.echo(f"{name}={value}")


@app.command("doctor")
def doctor_command(model: ModelOpt = None, adapter: AdapterOpt = None,
                   skip_model: Annotated[bool, typer.Option(help="Do not load the model.")] = False) -> None:
    """Check config, Redis, the store and the model, and say what to fix."""
    from recap.doctor import run_checks

    ok = run_checks(lambda: settings_with(model=model, adapter=adapter), console, load_model=not skip_model)
    raise typer.Exit(0 if ok else 1)


@store_app.command("purge")
def purge_command() -> None:
    """Delete summaries and feedback older than RECAP_RETENTION_DAYS."""
    settings = settings_with()
    from bot.store import Store

    removed = Store.from_settings(settings).purge()
    typer.echo(f"Removed {removed} summaries older than {settings.retention_days} days.")


@model_app.command("tiny")
def tiny_command(folder: Annotated[Path, typer.Argument(help="Where to save it.")]) -> None:
    """Build a tiny random T5 (for smoke tests on machines without internet; its summaries are noise)."""
    from worker.model.tiny import build_tiny_t5

    with console.status("Building a tiny T5…"):
        path = build_tiny_t5(folder)
    typer.echo(f"Saved to {path}. Try: recap demo --model {path}")


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
