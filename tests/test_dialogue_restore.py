"""restore_names and defuse_mentions: names come back, pings never do."""

from __future__ import annotations

import re

import pytest

from bot.dialogue import defuse_mentions, restore_names

SPEAKERS = {"#Person1#": "Alice", "#Person2#": "Bob"}
LIVE = re.compile(r"<[@!#]|@everyone|@here|@channel", re.IGNORECASE)


@pytest.mark.parametrize(
    "summary, expected",
    [
        ("#Person1# asks #Person2# for help.", "Alice asks Bob for help."),
        ("#Person1#'s laptop is broken.", "Alice's laptop is broken."),
        ("Person1 and Person2 agree.", "Alice and Bob agree."),
        ("#Person 1# thanks #Person 2#.", "Alice thanks Bob."),
        ("person1 meets PERSON2.", "Alice meets Bob."),
        ("#Person1 calls #Person2.", "Alice calls Bob."),
        ("#person2#: fine", "Bob: fine"),
        ("#Person1# tells #Person7# about it.", "Alice tells another participant about it."),
        ("Person12 left.", "another participant left."),
        ("A person 2 floors up heard #Person1#.", "A person 2 floors up heard Alice."),
        ("#Person1# posted in #general.", "Alice posted in #general."),
    ],
)
def test_restore_names_handles_every_tag_variant(summary: str, expected: str) -> None:
    assert restore_names(summary, SPEAKERS) == expected


def test_restore_names_never_leaves_a_tag_behind() -> None:
    restored = restore_names("#Person3# and #Person1# and Person9 and #Person 4", SPEAKERS)
    assert "Person" not in restored


@pytest.mark.parametrize(
    "summary",
    [
        "#Person1# told @everyone and @here about it.",
        "#Person1# pinged <@U0123ABC> and <@!123456789012345678> and <@&987654321098765432>.",
        "#Person2# wrote <!channel> <!here> <!everyone> <!subteam^S123|@devs>.",
        "#Person2# posted in <#C0123|general> and <#1234>.",
        "Broken forms: <@U1 and @@everyone and @HERE and @channel.",
    ],
)
def test_restored_text_contains_no_live_mentions(summary: str) -> None:
    restored = restore_names(summary, SPEAKERS)
    assert not LIVE.search(restored), restored


def test_a_display_name_that_looks_like_a_ping_is_defused() -> None:
    assert restore_names("#Person1# agreed.", {"#Person1#": "@everyone"}) == "everyone agreed."


def test_defuse_mentions_reads_naturally() -> None:
    text = "Hi @everyone, <@U1|maria> and <@42> in <#C9|ops>; <!here> <@&7> <!date^1392734382^{date}|Feb 18>"
    assert defuse_mentions(text) == "Hi everyone, maria and someone in #ops; everyone here a role Feb 18"
    assert defuse_mentions("mail me at bob@example.com") == "mail me at bob@example.com"
