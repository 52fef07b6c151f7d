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
