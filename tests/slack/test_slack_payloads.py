"""Slack's documented message subtypes, each becoming the right turn or skipped for a stated reason.

Payloads are copied from Slack's pages (ids shortened, text kept): https://api.slack.com/events/message
and its subtype pages, e.g. https://api.slack.com/events/message/thread_broadcast,
.../message_changed, .../message_deleted, .../bot_message, .../file_share, .../me_message,
.../channel_join, .../channel_topic, .../pinned_item, .../reminder_add, .../ekm_access_denied,
.../message_replied; app messages as chat.postMessage returns them (``bot_id``, ``app_id``, ``bot_profile``).
"""

from __future__ import annotations

import pytest
from slack_helpers import SlackHarness

from bot.dialogue import format_dialogue
from bot.slack_app.convert import REASONS, skip_reason, to_messages

NAMES = {"U061F7AUR": "Alice", "U123ABC456": "Bob"}
PARENT = "1517414896.001003"

KEPT = [
    ({"type": "message", "user": "U061F7AUR", "text": "Shall we ship on Friday?", "ts": PARENT,
      "thread_ts": PARENT, "reply_count": 2},
     ("Alice", "Shall we ship on Friday?")),
    ({"type": "message", "subtype": "thread_broadcast", "text": "Friday works for me", "user": "U123ABC456",
      "ts": "1517414906.000889", "thread_ts": PARENT,
      "root": {"text": "Shall we ship on Friday?", "user": "U061F7AUR", "ts": PARENT}},
     ("Bob", "Friday works for me")),
    ({"type": "message", "subtype": "message_changed", "hidden": True, "channel": "C1",
      "ts": "1517414910.000001",
      "message": {"type": "message", "user": "U061F7AUR", "text": "Hello, world!", "ts": "1517414907.000005",
                  "edited": {"user": "U061F7AUR", "ts": "1517414910.000001"}}},
     ("Alice", "Hello, world!")),
    ({"type": "message", "subtype": "file_share", "text": "Here is the plan", "user": "U123ABC456",
      "upload": True, "ts": "1517414911.000100",
      "files": [{"id": "F1", "name": "plan.pdf", "title": "plan.pdf", "mimetype": "application/pdf"}]},
     ("Bob", "Here is the plan")),
    ({"type": "message", "subtype": "me_message", "channel": "C1", "user": "U061F7AUR",
      "text": "is writing the release notes", "ts": "1517414912.000200"},
     ("Alice", "is writing the release notes")),
    ({"type": "message", "user": "U999", "text": "Count me in", "ts": "1517414913.000300",
      "user_profile": {"display_name": "carol.k", "real_name": "Carol King"}},
     ("carol.k", "Count me in")),  # Slack's display name on the message when users.info gave none
]

SKIPPED = [
    ({"type": "message", "subtype": "message_deleted", "hidden": True, "channel": "C1",
      "ts": "1358878755.000001", "deleted_ts": "1358878749.000002"}, "deleted"),
    ({"type": "message", "subtype": "tombstone", "text": "This message was deleted.", "user": "USLACKBOT",
      "hidden": True, "ts": "1358878749.000002", "thread_ts": "1358878749.000002", "reply_count": 2}, "deleted"),
    ({"type": "message", "subtype": "message_changed", "hidden": True, "ts": "1358878760.000001",
      "message": {"type": "message", "subtype": "tombstone", "text": "This message was deleted.",
                  "user": "USLACKBOT", "hidden": True, "ts": "1358878749.000002"}}, "deleted"),
    ({"type": "message", "subtype": "bot_message", "ts": "1358877455.000010", "text": "Pushing is the answer",
      "bot_id": "BB12033", "username": "github", "icons": {}}, "bot"),
    ({"type": "message", "user": "UAPPBOT", "ts": "1358877456.000010", "text": "Build 42 passed",
      "bot_id": "B01", "app_id": "A01", "team": "T1",
      "bot_profile": {"id": "B01", "app_id": "A01", "name": "Deploy", "deleted": False}}, "bot"),
    ({"type": "message", "subtype": "channel_join", "ts": "1358877458.000011", "user": "U2147483828",
      "text": "<@U2147483828|cal> has joined the channel", "inviter": "U123"}, "system"),
    ({"type": "message", "subtype": "channel_leave", "ts": "1358877459.000011", "user": "U2147483828",
      "text": "<@U2147483828|cal> has left the channel"}, "system"),
    ({"type": "message", "subtype": "channel_topic", "ts": "1358877460.000011", "user": "U2147483828",
      "topic": "hello world", "text": "<@U2147483828|cal> set the channel topic: hello world"}, "system"),
    ({"type": "message", "subtype": "channel_purpose", "ts": "1358877461.000011", "user": "U2147483828",
      "purpose": "whatever", "text": "<@U2147483828|cal> set the channel purpose: whatever"}, "system"),
    ({"type": "message", "subtype": "channel_name", "ts": "1358877462.000011", "user": "U2147483828",
      "old_name": "random", "name": "watercooler",
      "text": "<@U2147483828|cal> has renamed the channel from \"random\" to \"watercooler\""}, "system"),
    ({"type": "message", "subtype": "pinned_item", "user": "U024BE7LH", "item_type": "C",
      "text": "<@U024BE7LH|cal> pinned a message to this channel.", "item": {}, "channel": "C1",
      "ts": "1360782804.083113"}, "system"),
    ({"type": "message", "subtype": "reminder_add", "user": "U024BE7LH", "ts": "1360782805.083113",
      "text": " set up a reminder “test” in this channel at 9AM tomorrow, Eastern Standard Time."}, "system"),
    ({"type": "message", "subtype": "ekm_access_denied", "ts": "1360782806.083113", "user": "UREVOKEDU",
      "text": "Your admins have suspended everyone's access to this content."}, "ekm"),
    ({"type": "message", "subtype": "message_replied", "hidden": True, "channel": "C1",
      "event_ts": "1483037604.017506", "ts": "1483037604.017506",
      "message": {"type": "message", "user": "U061F7AUR", "text": "Was there was there was there what was there",
                  "thread_ts": "1482960137.003543", "reply_count": 1, "ts": "1482960137.003543"}}, "reply_notice"),
]


def test_each_kept_subtype_becomes_its_turn() -> None:
    messages = to_messages([raw for raw, _ in KEPT], NAMES)
    assert [(m.display_name, m.text) for m in messages] == [turn for _, turn in KEPT]
    assert messages[1].reply_to == PARENT  # the broadcast is a reply in its thread
    assert messages[3].attachments == ("plan.pdf",)
    dialogue = format_dialogue(messages)
    assert dialogue.message_count == len(KEPT)
    assert "plan.pdf" in dialogue.text and "Hello, world!" in dialogue.text
    assert set(dialogue.speakers.values()) == {"Alice", "Bob", "carol.k"}


@pytest.mark.parametrize(("raw", "reason"), SKIPPED, ids=[f"{r.get('subtype') or 'app'}-{i}" for i, (r, _) in
                                                          enumerate(SKIPPED)])
def test_each_skipped_subtype_has_its_stated_reason(raw: dict[str, object], reason: str) -> None:
    current = raw["message"] if raw.get("subtype") == "message_changed" else raw
    assert skip_reason(current) == reason  # type: ignore[arg-type]
    assert reason in REASONS
    assert to_messages([raw], NAMES) == []


def test_a_channel_of_documented_payloads_is_summarized_without_any_permission_note(slack: SlackHarness) -> None:
    """Through the real app: the broadcast (listed by history and by its thread) counts once, every
    skipped subtype stays out, and no note blames a scope or membership that is fine."""
    channel = "CDOCS"
    slack.fake.messages[channel] = []
    now = float(PARENT)
    for raw, _ in [*KEPT, *SKIPPED]:
        if raw.get("subtype") not in ("message_changed", "message_replied", "message_deleted"):
            slack.fake.messages[channel].append(dict(raw))  # event-only shapes never appear in history
    slack.fake.add_user("U061F7AUR", "Alice")
    slack.fake.add_user("U123ABC456", "Bob")
    response, _ = slack.command("100", channel=channel, response_url=slack.fake.response_url("docs"))
    slack.executor.drain()
    assert response.status == 200
    (job,) = slack.jobs()
    dialogue = job.args[0]["dialogue"]
    assert dialogue.count("Friday works for me") == 1
    for raw, _ in SKIPPED:
        text = str(raw.get("text") or "")
        assert not text.strip() or text.strip() not in dialogue
    notes = " ".join(c.params.get("text", "") for c in slack.fake.calls_to("response_url"))
    assert "Summarizing 5 messages" in notes
    for blame in ("scope", "permission", "invite", "intent", "can't read"):
        assert blame not in notes.lower()
    assert now  # the thread parent is in the window of `/summarize 100`
