"""Platform markup (Slack mrkdwn, Discord markdown) to the plain text the model reads.

Choices, applied the same way on every platform:
- user mentions become the speaker tag (`#Person2#`) or a display name, never a live mention;
- links become `[link: label]` or `[link: host]`, fenced code becomes `[code]`;
- emoji shortcodes stay as `:name:` (Discord custom emoji are reduced to that form);
- broadcast mentions (@everyone, @here, <!channel>) become the words "everyone" / "everyone here".
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from bot.dialogue.message import Markup
from bot.dialogue.restore import BROADCAST_WORDS, defuse_mentions

SOMEONE = "someone"

_CODE_BLOCK = re.compile(r"```.*?```", re.DOTALL)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_QUOTE = re.compile(r"^\s*>+ ?", re.MULTILINE)
_SPACE = re.compile(r"\s+")
_URL = r"https?://[^\s<>|\]\[()]+"
_TRAILING = ".,;:!?'\""

_SLACK_TOKEN = re.compile(r"<(?P<body>[^<>\n]+)>")
_DISCORD = re.compile(
    r"\[(?P<md_label>[^\]\n]+)\]\((?P<md_url>" + _URL + r")\)"  # [label](https://...)
    r"|<(?P<angle_url>" + _URL + r")>"  # <https://...> (embed suppressed)
    r"|<@!?(?P<user>\d+)>"
    r"|<@&(?P<role>\d+)>"
    r"|<#(?P<channel>\d+)>"
    r"|<a?:(?P<emoji>\w+):\d+>"
    r"|<t:(?P<unix>-?\d+)(?::(?P<style>[tTdDfFR]))?>"
    r"|</(?P<command>[\w -]+):\d+>"
    r"|(?P<bare_url>" + _URL + r")"
    r"|@(?P<broadcast>everyone|here)\b"
)
_DISCORD_KINDS = (
    "md_label",
    "angle_url",
    "user",
    "role",
    "channel",
    "emoji",
    "unix",
    "command",
    "bare_url",
    "broadcast",
)
_PLAIN = re.compile(r"(?P<bare_url>" + _URL + r")")
_DISCORD_STYLE = re.compile(r"\*\*|__|~~|\|\|")

_IMAGE = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".heic", ".svg", ".tif", ".tiff"}
_VIDEO = {".mp4", ".mov", ".webm", ".mkv", ".avi"}
_AUDIO = {".mp3", ".wav", ".ogg", ".m4a", ".flac"}


def attachment_placeholder(filename: str) -> str:
    """`[image: photo.png]`, `[video: clip.mp4]`, `[audio: memo.ogg]` or `[file: report.pdf]`."""
    name = _SPACE.sub(" ", filename).strip() or "attachment"
    suffix = PurePosixPath(name).suffix.lower()
    kinds = (("image", _IMAGE), ("video", _VIDEO), ("audio", _AUDIO))
    kind = next((kind for kind, suffixes in kinds if suffix in suffixes), "file")
    return f"[{kind}: {name}]"


def link_placeholder(url: str, label: str | None = None) -> str:
    """A link the model can talk about without a URL it would copy badly."""
    # A label that is itself a URL says no more than the host does.
    if label and label.strip() and not re.match(r"[a-z][a-z0-9+.-]*://", label.strip(), re.IGNORECASE):
        return f"[link: {label.strip()}]"
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    return f"[link: {host}]" if host else "[link]"


def _split_url(raw: str) -> tuple[str, str]:
    """Sentence punctuation right after a bare URL is not part of it."""
    url = raw.rstrip(_TRAILING)
    return url, raw[len(url) :]


def discord_time(unix: int, style: str | None) -> str:
    """Render a Discord `<t:unix:style>` as a fixed UTC string (relative styles cannot be kept)."""
    try:
        moment = datetime.fromtimestamp(unix, UTC)
    except (OverflowError, OSError, ValueError):
        return "[time]"
    clock = moment.strftime("%H:%M")
    day = f"{moment.day} {moment:%B %Y}"
    formats = {
        "t": f"{clock} UTC",
        "T": f"{moment:%H:%M:%S} UTC",
        "d": moment.strftime("%Y-%m-%d"),
        "D": day,
        "F": f"{moment:%A}, {day} {clock} UTC",
    }
    return formats.get(style or "f", f"{day} {clock} UTC")


def _person(user_id: str, names: Mapping[str, str], label: str | None = None) -> str:
    name = names.get(user_id) or (label or "").lstrip("@")
    return name.strip() or SOMEONE


def _slack_token(body: str, names: Mapping[str, str]) -> str:
    target, _, label = body.partition("|")
    label = html.unescape(label)
    if target.startswith("@"):
        return _person(target[1:], names, label)
    if target.startswith("#"):
        return "#" + (label or names.get(target[1:]) or "channel").lstrip("#")
    if target.startswith("!"):
        command = target[1:].split("^", 1)[0].lower()
        if command in BROADCAST_WORDS:
            return BROADCAST_WORDS[command]
        if command == "subteam":  # user group: name it, do not ping it
            return label.lstrip("@") or names.get(target[1:].split("^")[-1]) or "a group"
        return label or ""  # <!date^...|fallback> and friends
    if target.startswith("mailto:"):
        return f"[email: {label or target.removeprefix('mailto:')}]"
    if "://" in target:
        return link_placeholder(html.unescape(target), label or None)
    return label or target


def _normalize_slack(text: str, names: Mapping[str, str]) -> str:
    text = _SLACK_TOKEN.sub(lambda m: _slack_token(m.group("body"), names), text)
    return html.unescape(text)


def _discord_match(match: re.Match[str], names: Mapping[str, str]) -> str:
    # lastgroup would name the inner group (md_url, style); take the first alternative that matched.
    group = next(name for name in _DISCORD_KINDS if match.group(name) is not None)
    value = match.group(group)
    if group == "md_label":
        return link_placeholder(match.group("md_url"), value)
    if group == "angle_url":
        return link_placeholder(value)
    if group == "user":
        return _person(value, names)
    if group == "role":
        role = names.get(value, "").lstrip("@")
        return f"@{role}" if role else "[role]"
    if group == "channel":
        return "#" + names.get(value, "channel").lstrip("#")
    if group == "emoji":
        return f":{value}:"
    if group == "unix":
        return discord_time(int(value), match.group("style"))
    if group == "command":
        return f"/{value}"
    if group == "bare_url":
        url, tail = _split_url(value)
        return link_placeholder(url) + tail
    return BROADCAST_WORDS[value.lower()]


def _normalize_discord(text: str, names: Mapping[str, str]) -> str:
    text = _DISCORD.sub(lambda m: _discord_match(m, names), text)
    return _DISCORD_STYLE.sub("", text)  # bold, underline, strike, spoiler markers


def _normalize_plain(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        url, tail = _split_url(match.group("bare_url"))
        return link_placeholder(url) + tail

    return _PLAIN.sub(replace, text)


def normalize_text(text: str, markup: Markup = "plain", names: Mapping[str, str] | None = None) -> str:
    """One line of plain text for the model.

    `names` maps platform ids to what a mention should read as: the caller puts speaker tags
    (`#Person2#`) there for people who speak, display names for everyone else.
    """
    names = names or {}
    text = _CODE_BLOCK.sub(" [code] ", text)
    text = _INLINE_CODE.sub(r"\1", text)
    if markup == "slack":
        text = _normalize_slack(text, names)
    elif markup == "discord":
        text = _normalize_discord(text, names)
    else:
        text = _normalize_plain(text)
    text = _QUOTE.sub("", text)
    return defuse_mentions(_SPACE.sub(" ", text).strip())
