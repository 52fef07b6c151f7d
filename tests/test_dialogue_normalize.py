"""Platform markup in, plain model text out; mentions of speakers become their tags."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from bot.dialogue import Message, format_dialogue, normalize_text
from bot.dialogue.message import Markup

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
LIVE = re.compile(r"<@|<!|<#|@everyone|@here|@channel")


def talk(markup: Markup, text: str, names: dict[str, str] | None = None) -> str:
    """Ann (id 1/U1) says `text`, then Ben (id 2/U2) answers: Ben speaks only after being mentioned."""
    first, second = ("U1", "U2") if markup == "slack" else ("1", "2")
    messages = [
        Message(first, "Ann", text, T0, markup=markup, names=names or {}),
        Message(second, "Ben", "ok", T0, markup=markup),
    ]
    line = format_dialogue(messages).text.splitlines()[0]
    assert line.startswith("#Person1#: ")
    return line.removeprefix("#Person1#: ")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<@U2> ping", "#Person2# ping"),
        ("<@U2|ben> ping", "#Person2# ping"),
        ("<@U1> is me", "#Person1# is me"),
        ("ask <@U7>", "ask Dora"),
        ("ask <@U8|carl>", "ask carl"),
        ("ask <@U9>", "ask someone"),
        ("in <#C1|general> and <#C2>", "in #general and #random"),
        ("<!channel> <!here> <!everyone> hi", "everyone everyone here everyone hi"),
        ("<!subteam^S1|@backend> look", "backend look"),
        (
            "see <https://example.com/a?b=1|the doc> or <https://www.github.com/x>",
            "see [link: the doc] or [link: github.com]",
        ),
        ("write <mailto:bob@example.com|bob@example.com>", "write [email: bob@example.com]"),
        ("run `make test` then ```rm -rf build\nmake``` ok", "run make test then [code] ok"),
        ("a &amp; b &lt;3 &gt; c :tada:", "a & b <3 > c :tada:"),
        ("&gt; quoted line\nreply", "quoted line reply"),
        ("escaped &lt;@U2&gt; and &lt;!here&gt;", "escaped someone and everyone here"),
    ],
)
def test_slack_markup(text: str, expected: str) -> None:
    assert talk("slack", text, {"U7": "Dora", "C2": "random"}) == expected


DISCORD_NAMES = {"7": "Dora", "50": "Moderators", "60": "general"}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<@2> ping", "#Person2# ping"),
        ("<@!2> ping", "#Person2# ping"),
        ("<@!1> is me", "#Person1# is me"),
        ("ask <@7> or <@!8>", "ask Dora or someone"),
        ("call <@&50> or <@&51>", "call @Moderators or [role]"),
        ("go to <#60> or <#61>", "go to #general or #channel"),
        ("nice <:pog:8111> <a:party:8222>", "nice :pog: :party: "),
        ("at <t:1700000000:t> / <t:1700000000:T>", "at 22:13 UTC / 22:13:20 UTC"),
        ("on <t:1700000000:d> or <t:1700000000:D>", "on 2023-11-14 or 14 November 2023"),
        ("<t:1700000000> <t:1700000000:f> <t:1700000000:R>", "14 November 2023 22:13 UTC " * 3),
        ("<t:1700000000:F>", "Tuesday, 14 November 2023 22:13 UTC"),
        ("@everyone and @here listen", "everyone and everyone here listen"),
        ("see https://www.youtube.com/watch?v=x.", "see [link: youtube.com]."),
        (
            "see [the doc](https://docs.example.org/a) and <https://example.com>",
            "see [link: the doc] and [link: example.com]",
        ),
        ("```py\nprint(1)\n``` and `x = 1`", "[code] and x = 1"),
        ("||spoiler|| **bold** ~~gone~~ __under__", "spoiler bold gone under"),
        ("try </summarize:123>", "try /summarize"),
        ("[https://a.com/x](https://b.com) <t:99999999999999:R>", "[link: b.com] [time]"),
    ],
)
def test_discord_markup(text: str, expected: str) -> None:
    assert talk("discord", text, DISCORD_NAMES) == expected.strip()


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "read https://en.wikipedia.org/wiki/Tea, then http://localhost:8000/x",
            "read [link: en.wikipedia.org], then [link: localhost]",
        ),
        ("code: ```a\nb``` done", "code: [code] done"),
        ("@everyone <@123> <!here>", "everyone someone everyone here"),
    ],
)
def test_plain_markup(text: str, expected: str) -> None:
    assert talk("plain", text) == expected


def test_no_live_mention_survives_any_markup() -> None:
    nasty = "@everyone @here <!channel> <!here> <@U1> <@!1> <@&1> <#1> &lt;@U2&gt; @@everyone"
    for markup in ("plain", "slack", "discord"):
        line = talk(markup, nasty)  # type: ignore[arg-type]
        assert not LIVE.search(line), (markup, line)


def test_role_or_nickname_that_is_a_ping_is_defused() -> None:
    assert talk("discord", "<@&50> <@7>", {"50": "everyone", "7": "@here"}) == "everyone everyone here"


def test_normalize_text_is_usable_on_its_own() -> None:
    assert normalize_text("hi <@U1>", "slack", {"U1": "#Person1#"}) == "hi #Person1#"
    assert normalize_text("hi\n<@U1>") == "hi someone"
