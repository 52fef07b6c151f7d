"""parse_conversation on real-looking sample files, and its errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.dialogue import ConversationFormatError, Dialogue, format_dialogue, parse_conversation, restore_names

SAMPLES = Path(__file__).parent / "samples"


def dialogue_of(name: str, fmt: str = "auto") -> Dialogue:
    data = (SAMPLES / name).read_bytes()
    return format_dialogue(parse_conversation(data, filename=name, fmt=fmt))


@pytest.mark.parametrize("fmt", ["auto", "plain"])
def test_plain_chat_sample(fmt: str) -> None:
    dialogue = dialogue_of("plain_chat.txt", fmt)
    assert dialogue.text == (
        "#Person1#: Morning! Is the release still on for Friday?\n"
        "#Person2#: I think so, but the payment tests are flaky. They failed twice last night.\n"
        "#Person1#: Can you send me the CI link? "
        "Also check [link: status.example.com], it might be related.\n"
        "#Person3#: I rewrote the retry logic yesterday: [code]\n"
        "#Person2#: Thanks Priya, I'll rerun make test and report back."
    )
    assert dialogue.speakers == {"#Person1#": "Maya", "#Person2#": "Tom", "#Person3#": "Priya"}
    assert (dialogue.message_count, dialogue.turn_count) == (6, 5)


def test_plain_timestamps_are_read() -> None:
    messages = parse_conversation("[10:32] Ann: hi\n[10:33:05] Ben: hey\nCid: yo")
    assert [m.timestamp.strftime("%H:%M:%S") for m in messages[:2]] == ["10:32:00", "10:33:05"]
    assert all(m.timestamp.tzinfo is UTC for m in messages)
    assert [m.display_name for m in messages] == ["Ann", "Ben", "Cid"]


@pytest.mark.parametrize("fmt", ["auto", "dialogsum"])
def test_dialogsum_sample_round_trips(fmt: str) -> None:
    original = (SAMPLES / "dialogsum.txt").read_text().strip()
    dialogue = dialogue_of("dialogsum.txt", fmt)
    assert dialogue.text == original
    assert dialogue.speakers == {"#Person1#": "Person1", "#Person2#": "Person2"}
    assert restore_names("#Person1# books a table.", dialogue.speakers) == "Person1 books a table."


def test_dialogsum_test_split_round_trips(dialogsum_dir: Path) -> None:
    """Real DialogSum dialogues come back unchanged, except where one speaker has two lines in a row."""
    checked = 0
    with (dialogsum_dir / "test.jsonl").open() as lines:
        for line in list(lines)[:200]:
            original = json.loads(line)["dialogue"]
            turns = [" ".join(t.split()) for t in original.strip().splitlines() if t.strip()]
            tags = [t.split(":", 1)[0] for t in turns]
            if any(a == b for a, b in zip(tags, tags[1:], strict=False)) or any("#:" not in t for t in turns):
                continue
            assert format_dialogue(parse_conversation(original)).text == "\n".join(turns)
            checked += 1
    assert checked > 150


@pytest.mark.parametrize("fmt", ["auto", "slack"])
def test_slack_export_sample(fmt: str) -> None:
    dialogue = dialogue_of("slack_export.json", fmt)
    assert dialogue.text == (
        "#Person1#: everyone here the staging deploy is broken, see [link: build 981] & the logs\n"
        "#Person2#: Looking. #Person3# did you touch the migrations in #deploys?\n"
        "#Person3#: Yes, sorry! Reverting now: [code] Here is the error :scream: [image: stacktrace.png]\n"
        "#Person1#: Thanks #Person3#. someone FYI, postmortem doc: [email: ops@example.com]"
    )
    assert dialogue.speakers == {"#Person1#": "Anna Schmidt", "#Person2#": "kevin", "#Person3#": "lee"}
    assert dialogue.message_count == 5


def test_slack_export_message_fields() -> None:
    messages = parse_conversation((SAMPLES / "slack_export.json").read_text())
    join, first, reply, bot = messages[:4]
    assert join.is_system and not join.is_bot
    assert bot.is_bot and bot.display_name == "CI Bot" and bot.author_id == "B0CIBOT"
    assert first.timestamp == datetime(2023, 11, 14, 22, 14, 20, 200, tzinfo=UTC)
    assert first.message_id == "1700000060.000200" and first.reply_to is None
    assert reply.thread_id == "1700000060.000200" and reply.reply_to == "1700000060.000200"
    assert messages[5].attachments == ("stacktrace.png",)
    assert all(m.markup == "slack" for m in messages)


def test_slack_export_is_sorted_and_falls_back_to_user_id() -> None:
    data = [
        {"type": "message", "user": "U2", "text": "second", "ts": "1700000010.0"},
        {
            "type": "message",
            "user": "U1",
            "text": "first",
            "ts": "1700000001.0",
            "user_profile": {"real_name": "Ann"},
        },
    ]
    dialogue = format_dialogue(parse_conversation(json.dumps(data)))
    assert dialogue.text == "#Person1#: first\n#Person2#: second"
    assert dialogue.speakers == {"#Person1#": "Ann", "#Person2#": "U2"}


@pytest.mark.parametrize("fmt", ["auto", "discord"])
def test_discord_export_sample(fmt: str) -> None:
    dialogue = dialogue_of("discord_export.json", fmt)
    assert dialogue.text == (
        "#Person1#: everyone jam starts Friday, 8 March 2024 19:00 UTC! #Person2# can you do the music?\n"
        "#Person2#: Sure :pog: here is my draft [audio: theme_v1.ogg]\n"
        "#Person1#: Love it the drop at 1:20 so good. "
        "Rules are on [link: itch.io], ask Alex Moreno about art\n"
        "#Person2#: Thanks #Person1#, I'll polish it tonight :partyparrot:"
    )
    assert dialogue.speakers == {"#Person1#": "Rin", "#Person2#": "Sam"}


def test_discord_export_message_fields() -> None:
    messages = parse_conversation((SAMPLES / "discord_export.json").read_bytes())
    join, first, reply, bot = messages[:4]
    assert join.is_system and messages[5].is_system
    assert bot.is_bot and not first.is_bot
    assert reply.reply_to == "1200000000000000002" and reply.attachments == ("theme_v1.ogg",)
    assert first.timestamp == datetime(2024, 3, 1, 18, 1, 10, 512000, tzinfo=UTC)
    assert first.names["500000000000000005"] == "Alex Moreno"
    assert first.names["900000000000000050"] == "jam-planning"


def test_discord_raw_mention_forms_use_names_from_the_export() -> None:
    data = {
        "guild": {"id": "1", "name": "g"},
        "channel": {"id": "60", "name": "general"},
        "messages": [
            {
                "id": "1",
                "type": "Default",
                "timestamp": "2024-01-01T10:00:00+00:00",
                "content": "<@!9> and <@2> in <#60>",
                "author": {"id": "1", "name": "ann", "isBot": False},
                "mentions": [{"id": "9", "name": "zed", "nickname": "Zed"}, {"id": "2", "name": "ben"}],
            },
            {
                "id": "2",
                "type": "Default",
                "timestamp": "2024-01-01T10:01:00+00:00",
                "content": "hi",
                "author": {"id": "2", "name": "ben", "nickname": None, "isBot": False},
            },
        ],
    }
    dialogue = format_dialogue(parse_conversation(json.dumps(data), fmt="discord"))
    assert dialogue.text == "#Person1#: Zed and #Person2# in #general\n#Person2#: hi"


@pytest.mark.parametrize("data", ["", "   \n\n", b"", b"\xef\xbb\xbf\n"])
def test_empty_input(data: str | bytes) -> None:
    with pytest.raises(ConversationFormatError, match="The conversation is empty."):
        parse_conversation(data)


@pytest.mark.parametrize(
    "data, fmt",
    [
        ("Just some prose without any speaker at all.", "auto"),
        ('{"name": "not a chat", "items": [1, 2]}', "auto"),
        ('{"messages": "nope"}', "discord"),
        ("[1, 2, 3]", "auto"),
        ("Hello there", "dialogsum"),
        ("[]", "discord"),
    ],
)
def test_not_a_conversation(data: str, fmt: str) -> None:
    with pytest.raises(ConversationFormatError, match="This file is not a conversation") as caught:
        parse_conversation(data, fmt=fmt)
    assert isinstance(caught.value, ValueError)


def test_broken_json_names_the_file() -> None:
    with pytest.raises(ConversationFormatError, match=r"export\.json looks like JSON but cannot be read"):
        parse_conversation('[{"type": "message",', filename="export.json")


def test_unknown_format_name_lists_the_allowed_ones() -> None:
    with pytest.raises(ConversationFormatError) as caught:
        parse_conversation("Ann: hi", fmt="whatsapp")
    message = str(caught.value)
    assert "'whatsapp'" in message
    for allowed in ("auto", "plain", "dialogsum", "slack", "discord"):
        assert allowed in message


@pytest.mark.parametrize(
    "garbage", [bytes(range(256)) * 4, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"Ann: hi\x00\x01"]
)
def test_binary_garbage_is_refused(garbage: bytes) -> None:
    with pytest.raises(ConversationFormatError, match="not a text file"):
        parse_conversation(garbage, filename="upload.bin")


def test_url_lines_are_continuations_not_speakers() -> None:
    messages = parse_conversation("Ann: look at this\nhttps://example.com/page\nBen: nice")
    assert [m.display_name for m in messages] == ["Ann", "Ben"]
    assert format_dialogue(messages).text == "#Person1#: look at this [link: example.com]\n#Person2#: nice"
