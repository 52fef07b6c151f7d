"""Where platform, digest and training sub-commands join the `recap` command."""

from __future__ import annotations

import typer


def mount(app: typer.Typer) -> None:
    """Add the sub-apps of the other packages (each imports its heavy libraries lazily)."""
    from bot.adapters.cli import adapters_app
    from bot.digest.cli import scheduler_command
    from bot.discord_app.cli import discord_cli
    from bot.slack_app.runner import app as slack_cli
    from training.cli import train_app
    from training.cli_eval import eval_app, report_command

    app.add_typer(slack_cli, name="slack")
    app.add_typer(discord_cli, name="discord")
    app.command("scheduler")(scheduler_command)
    app.add_typer(train_app, name="train")
    app.add_typer(eval_app, name="eval")
    app.command("report")(report_command)
    app.add_typer(adapters_app, name="adapters")
