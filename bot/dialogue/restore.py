"""Turn `#PersonN#` tags in a model summary back into names, and make sure nothing pings."""

from __future__ import annotations

import re
from collections.abc import Mapping

UNKNOWN_SPEAKER = "another participant"

# With a leading '#': "#Person1#", "#Person1", "#Person 1#", "# person1 #"-ish.
# Without it only the tight form "Person1"/"person1", so prose like "a person 2 floors up" survives.
_TAG = re.compile(
    r"#\s?person\s?(?P<a>\d+)(?:\s?#(?!\w))?|(?<![\w#])person(?P<b>\d+)#?(?!\w)",
    re.IGNORECASE,
)
_KEY = re.compile(r"person\s?(\d+)", re.IGNORECASE)

# Live mention syntax of Slack (<@U1>, <!here>, <#C1|x>) and Discord (<@1>, <@!1>, <@&1>, <#1>).
_ROLE = re.compile(r"<@&[^<>\s]*>")
_USER = re.compile(r"<@!?[^<>|\s]*(?:\|(?P<label>[^<>]*))?>")
_CHANNEL = re.compile(r"<#[^<>|\s]*(?:\|(?P<label>[^<>]*))?>")
_SPECIAL = re.compile(r"<!(?P<name>[\w-]+)(?:\^[^<>|]*)?(?:\|(?P<label>[^<>]*))?>")
_BROADCAST = re.compile(r"@+(?P<word>everyone|here|channel)\b", re.IGNORECASE)
_OPENERS = re.compile(r"<(?=[@!#])")
# Link forms chat clients turn into live links on their own: a scheme ("https://", "mailto:") and a bare
# host ("example.com", "www.example.com/path", "bob@example.com"), as Slack and Discord auto-link them.
_SCHEME = re.compile(r"\b(https?|s?ftp|file|mailto|tel|sms|slack|wss?|discord|steam|git|ssh)(:)(?=\S)", re.IGNORECASE)
_HOST = re.compile(
    r"(?<![\w-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}(?![\w-])", re.IGNORECASE | re.ASCII
)
ZERO_WIDTH_SPACE = "\u200b"

BROADCAST_WORDS = {"everyone": "everyone", "channel": "everyone", "here": "everyone here"}


def _speaker_numbers(speakers: Mapping[str, str]) -> dict[int, str]:
    numbers: dict[int, str] = {}
    for tag, name in speakers.items():
        match = _KEY.search(tag)
        if match:
            numbers[int(match.group(1))] = name
    return numbers


def restore_names(summary: str, speakers: Mapping[str, str]) -> str:
    """Replace every speaker tag variant with the speaker's name; unknown numbers become
    "another participant". The result never contains a live mention."""
    numbers = _speaker_numbers(speakers)

    def name_for(match: re.Match[str]) -> str:
        number = int(match.group("a") or match.group("b"))
        return numbers.get(number, UNKNOWN_SPEAKER)

    return defuse_mentions(_TAG.sub(name_for, summary))


def _special(match: re.Match[str]) -> str:
    name = match.group("name").lower()
    if name in BROADCAST_WORDS:
        return BROADCAST_WORDS[name]
    label = (match.group("label") or "").lstrip("@")
    return label or "a group"


def defuse_mentions(text: str) -> str:
    """Rewrite every Slack/Discord mention form as plain words, so posting the text pings nobody.

    Adapters still escape per platform; this is the platform-neutral safety net.
    """
    text = _ROLE.sub("a role", text)
    text = _USER.sub(lambda m: (m.group("label") or "").lstrip("@") or "someone", text)
    text = _CHANNEL.sub(lambda m: "#" + (m.group("label") or "channel").lstrip("#"), text)
    text = _SPECIAL.sub(_special, text)
    text = _BROADCAST.sub(lambda m: BROADCAST_WORDS[m.group("word").lower()], text)
    # Whatever half-written form is left ("<@U1" without '>') loses its opening bracket.
    return _OPENERS.sub("", text)


def _split_host(match: re.Match[str]) -> str:
    return match.group(0).replace(".", ZERO_WIDTH_SPACE + ".")


def defuse_links(text: str) -> str:
    """Make every URL-like word in generated text inert, for both platforms: a zero-width space after
    the scheme ("https\u200b://") and before each dot of a host ("example\u200b.com"), so neither Slack's
    nor Discord's auto-linker sees a link, while a reader sees the same characters. Covers bare URLs,
    the ``[link: host]`` placeholders the model copies from its input, e-mail addresses and markdown links.
    Call it on text about to be posted (not on stored text); escape per platform afterwards."""
    text = _SCHEME.sub(lambda m: m.group(1) + ZERO_WIDTH_SPACE + m.group(2), text)
    return _HOST.sub(_split_host, text)
