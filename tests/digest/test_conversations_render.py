"""Splitting a day into conversations, and rendering the post within platform limits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bot.dialogue import Message
from bot.digest.conversations import split_conversations
from bot.digest.render import DigestItem, DigestView, render
from bot.discord_app.digest import STYLE as DISCORD
from bot.slack_app.digest import STYLE as SLACK

T0 = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)


def msg(minutes: float, author: str, text: str, thread: str | None = None, **extra: object) -> Message:
    return Message(
        author_id=author,
        display_name=author.title(),
        text=text,
        timestamp=T0 + timedelta(minutes=minutes),
        message_id=f"m{minutes}",
        thread_id=thread,
        **extra,
    )  # type: ignore[arg-type]


def test_threads_are_one_conversation_and_top_level_splits_on_gaps() -> None:
    messages = [
        msg(0, "ann", "Morning all, the standup moves to ten today."),
        msg(10, "bob", "Thanks for the heads up, see you then."),
        msg(20, "ann", "Can someone check the failing nightly job?", thread="t1"),
        msg(100, "cid", "I restarted it and it passed this time.", thread="t1"),  # a thread ignores the gap
        msg(45, "bob", "One more thing about the standup agenda."),  # 35 min after the last top-level one
        msg(50, "ann", "ok"),
        msg(200, "bot", "Build 12 passed on the main branch today.", is_bot=True),
        msg(300, "cid", "thanks!"),  # alone and short: trivial
        msg(400, "dan", "", attachments=("roadmap.pdf",)),  # alone but a file: kept
    ]
    conversations = split_conversations(messages, timedelta(minutes=30))
    assert [[m.message_id for m in c.messages] for c in conversations] == [
        ["m0", "m10"],
        ["m20", "m100"],
        ["m45", "m50"],
        ["m400"],
    ]
    assert conversations[1].thread_id == "t1" and conversations[1].participants == ["Ann", "Cid"]
    assert len(split_conversations(messages, timedelta(minutes=60))) == 3  # a longer gap merges the standup talk


def item(number: int, summary: str = "They agreed to ship on Friday.") -> DigestItem:
    return DigestItem(f"{summary} ({number})", ["Alice", "Bob"], 3, f"https://example.test/m/{number}", T0.isoformat())


def test_render_splits_between_bullets_within_the_platform_limit() -> None:
    view = DigestView("#general", date(2024, 5, 6), [item(n, "word " * 60) for n in range(40)], 120)
    for style in (SLACK, DISCORD):
        parts = render(view, style)
        assert len(parts) > 1 and all(len(part) <= style.limit for part in parts)
        joined = "\n".join(parts)
        assert joined.count("• ") == 40 and "3 messages" in parts[-1]
        assert all(part.splitlines()[0].startswith(("• ", "*Daily", "**Daily")) for part in parts)
    assert render(view, SLACK)[0].startswith("*Daily digest for #general · Monday 6 May 2024*\n40 conversations")


def test_slack_and_discord_styles_escape_untrusted_text() -> None:
    view = DigestView(
        "#general",
        date(2024, 5, 6),
        [
            DigestItem("<!channel> ask <@U1> & @everyone about <https://evil.test|this>", ["<!here>"], 2, None, ""),
        ],
        2,
    )
    slack = render(view, SLACK)[0]
    assert "<!" not in slack and "<@" not in slack and "<https://evil" not in slack and "@everyone" not in slack
    discord_text = render(view, DISCORD)[0]
    assert "@everyone" not in discord_text and "<@" not in discord_text and "@here" not in discord_text
