"""format_dialogue: speaker numbering, merging, filtering, attachments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.dialogue import Dialogue, EmptyConversationError, Message, format_dialogue

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def msg(author: str, text: str, minute: int = 0, **kwargs: object) -> Message:
    return Message(
        author_id=author.lower(),
        display_name=author,
        text=text,
        timestamp=T0 + timedelta(minutes=minute),
        **kwargs,
    )  # type: ignore[arg-type]


def test_speakers_numbered_by_first_appearance_and_consecutive_turns_merged() -> None:
    dialogue = format_dialogue(
        [
            msg("Bea", "Lunch?"),
            msg("Bea", "I'm starving."),
            msg("Al", "Sure, where?"),
            msg("Bea", "The noodle place."),
            msg("Cy", "Count me in"),
            msg("Cy", "see you at noon"),
        ]
    )
    assert dialogue == Dialogue(
        text=(
            "#Person1#: Lunch? I'm starving.\n"
            "#Person2#: Sure, where?\n"
            "#Person1#: The noodle place.\n"
            "#Person3#: Count me in see you at noon"
        ),
        speakers={"#Person1#": "Bea", "#Person2#": "Al", "#Person3#": "Cy"},
        message_count=6,
        turn_count=4,
    )


def test_internal_newlines_become_spaces_so_each_turn_is_one_line() -> None:
    dialogue = format_dialogue([msg("Al", "first line\n\nsecond line\n  third"), msg("Bea", "ok")])
    assert dialogue.text == "#Person1#: first line second line third\n#Person2#: ok"


def test_bot_and_system_messages_dropped_by_default_and_do_not_split_turns() -> None:
    messages = [
        msg("Al", "deploying now"),
        msg("CI", "Build 12 passed", is_bot=True),
        msg("Bea", "Bea joined the channel", is_system=True),
        msg("Al", "done"),
        msg("Bea", "thanks"),
    ]
    dialogue = format_dialogue(messages)
    assert dialogue.text == "#Person1#: deploying now done\n#Person2#: thanks"
    assert dialogue.message_count == 3
    assert dialogue.speakers == {"#Person1#": "Al", "#Person2#": "Bea"}


def test_include_bots_keeps_bot_messages_but_never_system_ones() -> None:
    messages = [
        msg("Al", "status?"),
        msg("CI", "Build 12 passed", is_bot=True),
        msg("X", "pinned", is_system=True),
    ]
    dialogue = format_dialogue(messages, include_bots=True)
    assert dialogue.text == "#Person1#: status?\n#Person2#: Build 12 passed"
    assert dialogue.speakers["#Person2#"] == "CI"


def test_attachments_become_placeholders_appended_to_the_turn() -> None:
    dialogue = format_dialogue(
        [
            msg("Al", "photos from the offsite", attachments=("photo.PNG", "notes.pdf")),
            msg("Al", "", attachments=("clip.mp4",)),
            msg("Bea", "", attachments=("memo.ogg",)),
        ]
    )
    assert dialogue.text == (
        "#Person1#: photos from the offsite [image: photo.PNG] [file: notes.pdf] [video: clip.mp4]\n"
        "#Person2#: [audio: memo.ogg]"
    )


def test_mention_of_someone_who_speaks_later_uses_their_tag() -> None:
    messages = [
        msg("Al", "<@bea> can you review?", markup="slack"),
        msg("Bea", "on it"),
    ]
    assert format_dialogue(messages).text == "#Person1#: #Person2# can you review?\n#Person2#: on it"


@pytest.mark.parametrize(
    "messages, reason",
    [
        ([], "no messages"),
        ([msg("CI", "Build passed", is_bot=True), msg("X", "joined", is_system=True)], "bot or system"),
        ([msg("Al", "   "), msg("Bea", "\n")], "empty"),
    ],
)
def test_nothing_left_raises_a_friendly_empty_error(messages: list[Message], reason: str) -> None:
    with pytest.raises(EmptyConversationError, match=reason) as caught:
        format_dialogue(messages)
    assert isinstance(caught.value, ValueError)
    assert "nothing to summarize" in str(caught.value)


def test_message_requires_an_aware_timestamp_and_stores_utc() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Message("a", "A", "hi", datetime(2024, 1, 1))
    local = Message("a", "A", "hi", datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))))
    assert local.timestamp == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert local.timestamp.tzinfo is UTC
    assert hash(local) == hash(Message("a", "A", "hi", local.timestamp))


def test_unknown_markup_is_rejected() -> None:
    with pytest.raises(ValueError, match="markup"):
        Message("a", "A", "hi", T0, markup="teams")  # type: ignore[arg-type]
