"""Slack messages -> dialogue messages, and summary layout within Slack's limits."""

from __future__ import annotations

from bot.dialogue import format_dialogue
from bot.slack_app.blocks import SECTION_LIMIT, SHARE, VOTE_DOWN, VOTE_UP, escape, summary_posts
from bot.slack_app.convert import to_messages

NAMES = {"U1": "Alice", "U2": "Bob"}


def test_only_live_messages_of_people_are_kept() -> None:
    raw = [
        {"type": "message", "user": "U1", "text": "hello <@U2>", "ts": "1.000001"},
        {"type": "message", "subtype": "bot_message", "bot_id": "B1", "text": "beep", "ts": "2.0"},
        {"type": "message", "user": "U3", "subtype": "channel_join", "text": "joined", "ts": "3.0"},
        {"type": "message", "user": "U1", "subtype": "channel_topic", "text": "topic", "ts": "3.5"},
        {"type": "message", "subtype": "message_deleted", "hidden": True, "ts": "4.0"},
        {"type": "message", "subtype": "tombstone", "user": "USLACKBOT", "text": "deleted", "ts": "4.5"},
        {"type": "message", "subtype": "message_changed", "ts": "5.0",
         "message": {"user": "U2", "text": "edited text", "ts": "4.9", "edited": {"user": "U2"}}},
        {"type": "message", "user": "U2", "text": "", "ts": "6.0", "files": [{"name": "plan.png"}]},
        {"type": "message", "user": "U1", "subtype": "thread_broadcast", "text": "also here", "ts": "7.0",
         "thread_ts": "1.000001"},
    ]
    messages = to_messages(raw, NAMES)
    assert [(m.display_name, m.text) for m in messages] == [
        ("Alice", "hello <@U2>"), ("Bob", "edited text"), ("Bob", ""), ("Alice", "also here")]
    assert messages[2].attachments == ("plan.png",)
    assert messages[3].reply_to == "1.000001"
    dialogue = format_dialogue(messages)
    assert "hello #Person2#" in dialogue.text  # a mention of a speaker becomes their tag
    assert "[image: plan.png]" in dialogue.text
    assert dialogue.speakers == {"#Person1#": "Alice", "#Person2#": "Bob"}


def test_long_summaries_split_within_section_limits_and_keep_every_word() -> None:
    # ~27,000 characters once escaped: several sections, still one message (Slack's cap is 40,000).
    words = [f"word{i} & <tag>." for i in range(1000)]
    text = " ".join(words)
    (post,) = summary_posts(text, 7, 40, private=True)
    sections = [b["text"]["text"] for b in post.blocks if b["type"] == "section"]
    assert len(sections) > 1 and all(len(s) <= SECTION_LIMIT for s in sections)
    assert " ".join(sections) == escape(text)
    assert len(post.text) <= 3000
    actions = post.blocks[-1]
    assert [e["action_id"] for e in actions["elements"]] == [VOTE_UP, VOTE_DOWN, SHARE]
