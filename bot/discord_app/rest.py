"""Small pieces shared by the bot process and the worker's delivery step.

Both sides talk to the same REST base URL (``RECAP_DISCORD_API_URL`` overrides it, which is how the
tests point discord.py and the deliverer at a local fake), and both send every message with no
allowed mentions and link embeds suppressed, so generated text can never ping anyone.
"""

from __future__ import annotations

from typing import Any

import discord
from discord.http import Route

DEFAULT_API_URL = "https://discord.com/api/v10"
MESSAGE_LIMIT = 2000
UP, DOWN = "👍", "👎"
VOTE_EMOJI: dict[str, int] = {UP: 1, DOWN: -1}
# custom_id of the feedback buttons: the summary id travels in it, so the view survives restarts.
VOTE_CUSTOM_ID = r"recap:vote:(?P<summary_id>[0-9]+):(?P<rating>up|down)"


def api_base(settings: Any) -> str:
    return (getattr(settings, "discord_api_url", None) or DEFAULT_API_URL).rstrip("/")


def apply_api_base(settings: Any) -> None:
    """Point discord.py's HTTP client (and its webhooks) at the configured REST base URL."""
    Route.BASE = api_base(settings)


def no_mentions() -> dict[str, Any]:
    """The allowed_mentions payload that pings nobody: {"parse": []}."""
    return discord.AllowedMentions.none().to_dict()


def message_flags(*, ephemeral: bool = False) -> int:
    flags = discord.MessageFlags(suppress_embeds=True)
    flags.ephemeral = ephemeral
    return flags.value


def vote_custom_id(summary_id: int, rating: int) -> str:
    return f"recap:vote:{summary_id}:{'up' if rating > 0 else 'down'}"


def vote_components(summary_id: int) -> list[dict[str, Any]]:
    """One action row with 👍 / 👎 buttons; clicks are handled by bot.discord_app.feedback."""
    buttons = [
        {"type": 2, "style": 2, "emoji": {"name": emoji}, "custom_id": vote_custom_id(summary_id, rating)}
        for emoji, rating in VOTE_EMOJI.items()
    ]
    return [{"type": 1, "components": buttons}]


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split on paragraph, line, then word boundaries so no chunk exceeds ``limit`` characters."""
    chunks: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = _boundary(window, limit)
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        chunks.append(rest)
    return chunks


def _boundary(window: str, limit: int) -> int:
    # Prefer a paragraph, then a line, a sentence, a word, in the second half of the window.
    for separator, keep in (("\n\n", 0), ("\n", 0), (". ", 1), (" ", 0)):
        position = window.rfind(separator)
        if position > limit // 2:
            return position + keep
    position = window.rfind(" ")
    return position if position > 0 else limit


def required_permissions() -> discord.Permissions:
    """Exactly what Recap needs: read the channel, post summaries and add the 👍 / 👎 reactions."""
    return discord.Permissions(
        view_channel=True,
        read_message_history=True,
        send_messages=True,
        send_messages_in_threads=True,
        add_reactions=True,
    )


def invite_url(application_id: str | int) -> str:
    return discord.utils.oauth_url(
        application_id, permissions=required_permissions(), scopes=("bot", "applications.commands")
    )
