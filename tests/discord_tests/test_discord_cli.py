"""`recap discord invite-url` prints an invite with exactly the scopes and permissions Recap needs."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import discord
from typer.testing import CliRunner

from bot.discord_app.cli import discord_cli


def test_invite_url_has_exactly_the_needed_permissions() -> None:
    result = CliRunner().invoke(discord_cli, ["invite-url", "--application-id", "4242"])
    assert result.exit_code == 0, result.output
    url = next(line for line in result.output.splitlines() if line.startswith("https://"))
    query = parse_qs(urlsplit(url).query)
    assert query["client_id"] == ["4242"] and query["scope"] == ["bot applications.commands"]
    granted = discord.Permissions(int(query["permissions"][0]))
    assert granted == discord.Permissions(
        view_channel=True, read_message_history=True, send_messages=True, send_messages_in_threads=True,
        add_reactions=True,
    )
    assert not granted.administrator and not granted.manage_messages and not granted.mention_everyone
