"""`/summarize report` and `/summarize sharing`: admin-only, private replies, the HTML in the admin's DM."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fakes.slack_api import TEAM_ID, FakeSlackAPI
from redis import Redis
from slack_helpers import SlackHarness, make_harness

from bot.store import Store
from config.settings import Settings


def seed_feedback(store: Store) -> None:
    """Three summaries with five votes: four 👍, one 👎."""
    for n in range(3):
        summary_id = store.record_summary(
            request_id=f"slack:seed:{n}", platform="slack", workspace=TEAM_ID, channel="C1",
            model="flan-t5-base", adapter="lora-v1" if n else None, prompt_version="v1",
            text=f"Summary {n}.", latency_ms=800 + 100 * n,
        )
        store.record_vote(summary_id, f"U{n}", 1 if n else -1, source="button")
        if n:
            store.record_vote(summary_id, f"V{n}", 1, source="reaction")


def replies(slack: SlackHarness) -> list[str]:
    return [call.params.get("text", "") for call in slack.fake.calls_to("response_url")]


@pytest.fixture
def admin(slack: SlackHarness) -> str:
    slack.fake.users["U1"]["is_admin"] = True
    return "U1"


def test_admin_gets_summary_and_html_report_in_a_dm(slack: SlackHarness, admin: str) -> None:
    seed_feedback(Store.from_settings(slack.settings))
    response, elapsed = slack.command("report", user=admin)
    assert response.status == 200 and "Building the Recap report" in response.body
    slack.executor.drain()

    (text,) = replies(slack)
    assert "3 summaries, 5 votes" in text and "80%" in text  # 4 of 5 👍
    assert "direct messages" in text
    (opened,) = slack.fake.calls_to("conversations.open")
    assert opened.params["users"] == admin
    ((complete, contents),) = slack.fake.shared_files()
    assert complete.params["channel_id"] == "D" + admin  # the DM, never the channel
    (html,) = contents
    page = html.decode("utf-8")
    assert "<html" in page and "3 summaries, 5 votes" in page and "data:image/png;base64," in page
    (started,) = slack.fake.calls_to("files.getUploadURLExternal")
    assert started.params["filename"] == "recap-report.html"
    assert not slack.fake.calls_to("chat.postMessage")  # nothing public


def test_operator_listed_admin_may_ask_for_the_report(
    slack_settings: Settings, fake_slack: FakeSlackAPI, redis_conn: Redis
) -> None:
    """RECAP_SLACK_DIGEST_ADMINS counts as admin even without Slack's is_admin (empty store here)."""
    listed = slack_settings.model_copy(update={"slack_digest_admins": ["U3"]})
    harness = make_harness(listed, fake_slack, redis_conn)
    try:
        harness.command("report", user="U3")
        harness.executor.drain()
    finally:
        harness.executor.shutdown(wait=True)
    assert "no summaries recorded yet" in replies(harness)[0]
    assert len(fake_slack.shared_files()) == 1


def test_non_admin_is_refused_the_report_and_nothing_is_uploaded(slack: SlackHarness) -> None:
    seed_feedback(Store.from_settings(slack.settings))
    slack.command("report", user="U2")
    slack.executor.drain()
    (text,) = replies(slack)
    assert "Only workspace admins" in text and "votes" not in text
    assert not [c for c in slack.fake.calls if c.method.startswith("files.") or c.method == "upload"]
    assert not slack.fake.calls_to("conversations.open")


def test_sharing_on_off_and_show(slack: SlackHarness, admin: str) -> None:
    store = Store.from_settings(slack.settings)
    slack.command("sharing on", user=admin)
    slack.executor.drain()
    assert store.sharing_enabled("slack", TEAM_ID)
    assert "Sharing is *on*" in replies(slack)[-1] and "30 days" in replies(slack)[-1]

    slack.command("sharing show", user="U2")  # anyone may see what is kept
    slack.executor.drain()
    assert "Sharing is *on*" in replies(slack)[-1]

    slack.command("sharing off", user=admin)
    slack.executor.drain()
    assert not store.sharing_enabled("slack", TEAM_ID)
    assert "no conversation text is kept" in replies(slack)[-1]


def test_non_admin_cannot_turn_sharing_on(slack: SlackHarness) -> None:
    slack.command("sharing on", user="U2")
    slack.executor.drain()
    assert "Only workspace admins" in replies(slack)[-1]
    assert not Store.from_settings(slack.settings).sharing_enabled("slack", TEAM_ID)

    slack.command("sharing maybe", user="U2")
    slack.executor.drain()
    assert "Usage: `/summarize sharing on`" in replies(slack)[-1]


def test_admin_commands_never_import_torch() -> None:
    """The bot process must stay light: the report renderer is imported, then used, without torch."""
    code = (
        "import sys; from bot.slack_app import commands; from bot.discord_app import admin_cog; "
        "from bot.admin_report import build_chat_report; import training.report; "
        "bad = [m for m in ('torch', 'transformers', 'peft', 'worker.model') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
