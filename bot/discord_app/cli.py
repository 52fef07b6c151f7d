"""`recap discord` (run the bot) and `recap discord invite-url`. Mount with
`app.add_typer(discord_cli, name="discord")`; discord.py is imported only when a command runs."""

from __future__ import annotations

from typing import Annotated

import typer

discord_cli = typer.Typer(help="Run the Discord bot, or print its invite URL.", invoke_without_command=True)


@discord_cli.callback()
def discord_main(ctx: typer.Context) -> None:
    """Run the Discord bot (needs RECAP_DISCORD_TOKEN, Redis, and a running `recap worker`)."""
    if ctx.invoked_subcommand is not None:
        return
    from bot.discord_app.bot import run_bot
    from config.logging import setup_logging
    from config.settings import active_settings

    settings = active_settings()
    setup_logging(settings.log_level)
    run_bot(settings)


@discord_cli.command("invite-url")
def invite_url_command(
    application_id: Annotated[
        str | None, typer.Option("--application-id", help="Defaults to RECAP_DISCORD_APPLICATION_ID.")
    ] = None,
) -> None:
    """Print the URL that adds Recap to a server, with exactly the permissions it needs."""
    from bot.discord_app.rest import invite_url
    from config.settings import active_settings

    app_id = application_id or active_settings().discord_application_id
    if not app_id:
        raise typer.BadParameter(
            "set RECAP_DISCORD_APPLICATION_ID (Developer Portal → General Information → Application ID) "
            "or pass --application-id",
            param_hint="--application-id",
        )
    names = "View Channel, Read Message History, Send Messages, Send Messages in Threads, Add Reactions"
    typer.echo(invite_url(app_id))
    typer.echo(f"Scopes: bot, applications.commands. Permissions: {names}.", err=True)
