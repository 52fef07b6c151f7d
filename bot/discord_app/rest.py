"""Small pieces shared by the bot process and the worker's delivery step.

Both sides talk to the same REST base URL (``RECAP_DISCORD_API_URL`` overrides it, which is how the
tests point discord.py and the deliverer at a local fake), and both send every message with no
allowed mentions and link embeds suppressed, so generated text can never ping anyone.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import discord
from discord.http import Route

from bot.dialogue import defuse_links

# Re-exported: the deliverer and the cogs import them from here.
from bot.discord_app.split import MESSAGE_LIMIT as MESSAGE_LIMIT
from bot.discord_app.split import split_message as split_message

DEFAULT_API_URL = "https://discord.com/api/v10"
UP, DOWN = "👍", "👎"
VOTE_EMOJI: dict[str, int] = {UP: 1, DOWN: -1}
# custom_id of the feedback buttons: the summary id travels in it, so the view survives restarts.
VOTE_CUSTOM_ID = r"recap:vote:(?P<summary_id>[0-9]+):(?P<rating>up|down)"
# A masked link `[label](url)` (optionally `<url>` and a "title"), which Discord renders clickable.
MASKED_LINK = re.compile(r"\[([^\[\]\n]{0,300})\]\(\s*<?([^()\s<>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def defuse_masked_links(text: str) -> str:
    """Model-written `[label](url)` becomes `label (`url`)`: inline code is never a link on Discord.

    Wrapping a URL in `<...>` only hides its embed; the link would stay clickable.
    """

    def plain(match: re.Match[str]) -> str:
        label, url = match.group(1).strip(), match.group(2).replace("`", "")
        return f"{label} (`{url}`)" if label else f"`{url}`"

    return MASKED_LINK.sub(plain, text)


CODE_SPAN = re.compile(r"(`[^`]*`)")


def defuse_all_links(text: str) -> str:
    """Masked links become inline code; every other URL-like word outside code is made inert."""
    parts = CODE_SPAN.split(defuse_masked_links(text))
    return "".join(part if CODE_SPAN.fullmatch(part) else defuse_links(part) for part in parts)


def api_base(settings: Any) -> str:
    return (getattr(settings, "discord_api_url", None) or DEFAULT_API_URL).rstrip("/")


def apply_api_base(settings: Any) -> None:
    """Point discord.py's HTTP client (and its webhooks) at the configured REST base URL."""
    Route.BASE = api_base(settings)


def no_mentions() -> dict[str, Any]:
    """The allowed_mentions payload that pings nobody: {"parse": []}."""
    payload: dict[str, Any] = {**discord.AllowedMentions.none().to_dict()}
    return payload


def message_flags(*, ephemeral: bool = False) -> int:
    flags = discord.MessageFlags(suppress_embeds=True)
    flags.ephemeral = ephemeral
    return flags.value


def message_body(
    content: str, *, ephemeral: bool = False, components: list[Any] | None = None, nonce: str = ""
) -> dict[str, Any]:
    """A message create payload that pings nobody and shows no link embeds."""
    body: dict[str, Any] = {
        "content": content,
        "allowed_mentions": no_mentions(),
        "flags": message_flags(ephemeral=ephemeral),
    }
    if components:
        body["components"] = components
    if nonce:  # Discord answers a repeat within a few minutes with the first message (RQ retries are sooner)
        body["nonce"], body["enforce_nonce"] = nonce, True
    return body


def nonce_for(key: str, part: int | str) -> str:
    """A message nonce for part ``part`` of the post ``key`` (at most 25 characters, as Discord allows).

    Sent with ``enforce_nonce``, Discord returns the existing message instead of posting again when the
    same bot repeats a nonce within a few minutes: a retry of a post whose answer was lost is a no-op.
    """
    return hashlib.sha256(f"{key}:{part}".encode()).hexdigest()[:25]


def vote_custom_id(summary_id: int, rating: int) -> str:
    return f"recap:vote:{summary_id}:{'up' if rating > 0 else 'down'}"


def vote_components(summary_id: int) -> list[dict[str, Any]]:
    """One action row with 👍 / 👎 buttons; clicks are handled by bot.discord_app.feedback."""
    buttons = [
        {"type": 2, "style": 2, "emoji": {"name": emoji}, "custom_id": vote_custom_id(summary_id, rating)}
        for emoji, rating in VOTE_EMOJI.items()
    ]
    return [{"type": 1, "components": buttons}]


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
