"""`recap adapters add|list|promote|retire` and `recap adapters experiment start|stop|show`.

Mounted in recap/mounts.py. Errors written for a person (AdapterRegistryError, GateFileError, bad files)
print `Error: ...` and exit 2, without a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.adapters.gate import GateFileError, load_gate_file
from bot.adapters.registry import AdapterRegistryError, Registry, Scope

adapters_app = typer.Typer(help="Register adapters, promote them per workspace, run A/B experiments.",
                           no_args_is_help=True)
experiment_app = typer.Typer(help="A/B experiments between a serving adapter and a candidate.", no_args_is_help=True)
adapters_app.add_typer(experiment_app, name="experiment")

StoreUrl = Annotated[str | None, typer.Option("--store-url", help="Store URL (RECAP_STORE_URL).")]
Platform = Annotated[str, typer.Option(help="slack or discord (with --workspace).")]
Workspace = Annotated[str, typer.Option(help="Workspace (Slack team / Discord guild id); empty: the default.")]
Channel = Annotated[str, typer.Option(help="Channel id within the workspace.")]
Force = Annotated[bool, typer.Option(help="Skip the offline gate check (needs --reason).")]
Reason = Annotated[str | None, typer.Option(help="Why; kept in the registry's log.")]


@contextmanager
def _friendly() -> Iterator[None]:
    try:
        yield
    except (AdapterRegistryError, GateFileError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None


def _store(store_url: str | None) -> Any:
    from bot.store import store_for
    from recap.cli import settings_with

    return store_for(settings_with(store_url=store_url))


def _json_file(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AdapterRegistryError(f"cannot read the {what} file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise AdapterRegistryError(f"the {what} file {path} must hold a JSON object")
    return data


def _prompt(source: str, prompt_file: Path | None) -> tuple[str, str] | None:
    path = prompt_file or Path(source) / "prompt.json"
    if not path.is_file():
        return None
    data = _json_file(path, "prompt")
    name, template = data.get("name"), data.get("template")
    if not isinstance(name, str) or not isinstance(template, str) or "{dialogue}" not in template:
        raise AdapterRegistryError(f"{path}: a prompt needs a name and a template containing {{dialogue}}")
    return name, template


def _generation(source: str, generation_file: Path | None) -> dict[str, Any]:
    from config.settings import Settings

    path = generation_file or Path(source) / "generation.json"
    if not path.is_file():
        return {}
    data = _json_file(path, "generation")
    allowed = set(Settings.model_construct().generation_dict())
    unknown = set(data) - allowed
    if unknown:
        raise AdapterRegistryError(f"{path}: unknown generation settings {sorted(unknown)}; allowed {sorted(allowed)}")
    return data


@adapters_app.command("add")
def add_command(
    name: Annotated[str, typer.Argument(help="Registry name (lowercase letters, digits, - _ .).")],
    source: Annotated[str, typer.Argument(help="Adapter folder or hub id.")],
    base: Annotated[str | None, typer.Option(help="Base model (default RECAP_MODEL).")] = None,
    gate: Annotated[Path | None, typer.Option(help="JSON result of `recap eval gate` for this adapter.")] = None,
    prompt_file: Annotated[Path | None, typer.Option(help="prompt.json (default: the folder's).")] = None,
    generation_file: Annotated[Path | None, typer.Option(help="generation.json (default: the folder's).")] = None,
    store_url: StoreUrl = None,
) -> None:
    """Register an adapter as a candidate, with its offline gate result."""
    with _friendly():
        store = _store(store_url)
        from config.settings import active_settings

        result = load_gate_file(gate) if gate else None
        Registry(store).add(name, source, base or active_settings().model, prompt=_prompt(source, prompt_file),
                            generation=_generation(source, generation_file), gate=result)
    typer.echo(f"Registered {name} (candidate)" + ("" if result else "; no gate result: it cannot be promoted"))


@adapters_app.command("list")
def list_command(store_url: StoreUrl = None) -> None:
    """Every registered adapter: state, what it serves, its gate result."""
    registry = Registry(_store(store_url))
    records = registry.all()
    if not records:
        typer.echo("No adapters registered (add one with `recap adapters add NAME FOLDER --gate FILE`).")
        return
    for record in records:
        scopes = [Scope(a.platform, a.workspace, a.channel).describe() for a in registry.assignments(record.name)]
        gate = record.gate_result
        typer.echo(f"{record.name}\t{record.state}\t{record.base_model}\t{record.source}\t"
                   f"serves: {', '.join(scopes) or '-'}\tgate: {gate.describe() if gate else 'none'}")


@adapters_app.command("promote")
def promote_command(
    name: Annotated[str, typer.Argument(help="Adapter to serve.")],
    platform: Platform = "", workspace: Workspace = "", channel: Channel = "",
    force: Force = False, reason: Reason = None, store_url: StoreUrl = None,
) -> None:
    """Serve an adapter as the default, or for one workspace / channel. Refused when its gate result is missing
    or worse than the serving one's, unless --force --reason "..."."""
    with _friendly():
        typer.echo(Registry(_store(store_url)).promote(name, Scope(platform, workspace, channel), force=force,
                                                       reason=reason))


@adapters_app.command("retire")
def retire_command(name: Annotated[str, typer.Argument(help="Adapter to retire.")], force: Force = False,
                   reason: Reason = None, store_url: StoreUrl = None) -> None:
    """Never route to this adapter again (its assignments are removed; the default needs --force)."""
    with _friendly():
        typer.echo(Registry(_store(store_url)).retire(name, force=force, reason=reason))


@experiment_app.command("start")
def experiment_start(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    candidate: Annotated[str, typer.Option(help="Adapter to try.")],
    share: Annotated[float, typer.Option(help="Share of requesters sent to the candidate (0-1).")] = 0.5,
    control: Annotated[str | None, typer.Option(help="Adapter compared with (default: what serves).")] = None,
    platform: Platform = "", workspace: Workspace = "",
    auto_stop: Annotated[bool, typer.Option(help="Stop when one arm is worse beyond its interval.")] = True,
    store_url: StoreUrl = None,
) -> None:
    """Send a share of the requesters (hashed, so one person sees one arm) to a candidate adapter."""
    from bot.adapters.experiments import Experiments

    with _friendly():
        row = Experiments(_store(store_url)).start(name, candidate, share, control=control,
                                                   scope=Scope(platform, workspace), auto_stop=auto_stop)
    typer.echo(f"Experiment {row.name} running: {row.share * 100:g} % of {row.control}'s requesters to {row.candidate}")


@experiment_app.command("stop")
def experiment_stop(name: Annotated[str, typer.Argument(help="Experiment name.")],
                    reason: Annotated[str, typer.Option(help="Why it stops (kept).")] = "stopped by an operator",
                    store_url: StoreUrl = None) -> None:
    """Stop an experiment: every request goes back to the control adapter."""
    from bot.adapters.experiments import Experiments

    with _friendly():
        row = Experiments(_store(store_url)).stop(name, reason)
    typer.echo(f"Experiment {row.name} {row.state}: {row.stop_reason}")


@experiment_app.command("show")
def experiment_show(name: Annotated[str | None, typer.Argument(help="One experiment (default: all).")] = None,
                    store_url: StoreUrl = None) -> None:
    """The live readout: requests, votes, 👍 rate with intervals per arm, the difference, latency, gate."""
    from config.settings import active_settings
    from training.abtest import ab_report_lines

    store = _store(store_url)
    with _friendly():
        from bot.adapters.experiments import Experiments

        if name is not None and Experiments(store).get(name) is None:
            raise AdapterRegistryError(f"no experiment named {name!r}")
        lines = ab_report_lines(store, active_settings(), names=[name] if name else None)
    typer.echo("\n".join(lines))
