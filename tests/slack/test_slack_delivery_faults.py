"""Delivery against Slack's failure modes (issue 12): long 429s, a response_url answered too late,
empty model output, hostile links, and a failure notice that cannot go the usual way.

Rate-limit answers follow https://api.slack.com/apis/rate-limits (HTTP 429, ``Retry-After``);
response_url posts follow https://api.slack.com/interactivity/handling#message_responses.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from fakes.slack_api import FakeSlackAPI
from slack_helpers import CHANNEL, THREAD_TS, SlackHarness, posted_text, summary_posts

from bot.delivery import DeliveredSummary, TransientDeliveryError
from bot.queue import SummaryJob
from bot.slack_app import deliver

# A live link as Slack's auto-linker would see one: a scheme, or a host with a dot before a TLD.
LIVE_LINK = re.compile(r"(?i)\b(?:https?|mailto|ftp)://|<https?:|(?<![\w\u200b-])[a-z0-9-]+\.(?:com|org|io|net|dev)\b")


def _job(request_id: str, **destination: str) -> SummaryJob:
    public = not destination
    return SummaryJob(request_id=request_id, platform="slack", dialogue="-", channel=CHANNEL,
                      thread=THREAD_TS if public else None, requester="U1", public=public,
                      destination={**destination, "user": "U1"})


def test_three_long_rate_limits_reschedule_with_slacks_wait_then_post_once(slack: SlackHarness) -> None:
    """429 with Retry-After: 40 three times on chat.postMessage: each attempt fails fast with Slack's
    wait (no worker held for 40 s, no post), and the attempt after the limit posts exactly once."""
    slack.fake.rate_limit_times["chat.postMessage"] = [3, 40]
    summary = DeliveredSummary(11, "Alice ships on Friday.", "m", None, "v1", 4)
    for _ in range(3):
        started = time.monotonic()
        with pytest.raises(TransientDeliveryError) as limited:
            deliver.deliver(_job("slack:T1:limited"), summary, slack.settings)
        assert limited.value.retry_after_s == 40
        assert time.monotonic() - started < 5  # not slept in place
    reference = deliver.deliver(_job("slack:T1:limited"), summary, slack.settings)
    assert len(summary_posts(slack.fake)) == 1
    assert reference == f"{CHANNEL}:{summary_posts(slack.fake)[0].response['ts']}"


def test_a_short_rate_limit_is_waited_out_in_place(slack: SlackHarness) -> None:
    slack.fake.rate_limit_times["chat.postMessage"] = [1, 1]
    deliver.deliver(_job("slack:T1:short"), DeliveredSummary(12, "Done.", "m", None, "v1", 2), slack.settings)
    calls = slack.fake.calls_to("chat.postMessage")
    assert [c.accepted for c in calls] == [False, True] and calls[1].at - calls[0].at >= 1.0


@pytest.mark.slow
def test_a_response_url_post_answered_after_20_s_is_not_posted_again(slack: SlackHarness) -> None:
    """Slack applied the private summary but answered 20 s later (past our timeout): one copy only,
    on this attempt and on any retry of the job."""
    slack.fake.delays["response_url"] = 20
    job = _job("slack:T1:slow", response_url=slack.fake.response_url("slow"))
    summary = DeliveredSummary(13, "Bob reviews the migration.", "m", None, "v1", 3)
    deliver.deliver(job, summary, slack.settings)
    slack.fake.delays["response_url"] = 0
    deliver.deliver(job, summary, slack.settings)  # e.g. the job is retried after a later error
    shown = summary_posts(slack.fake)
    assert [call.method for call in shown] == ["response_url"]


def test_empty_model_output_becomes_a_failure_message(slack: SlackHarness) -> None:
    for number, text in enumerate(["", "   \n "]):
        job = _job(f"slack:T1:empty{number}", response_url=slack.fake.response_url(f"e{number}"))
        assert deliver.deliver(job, DeliveredSummary(20 + number, text, "m", None, "v1", 5), slack.settings) is None
    posts = slack.fake.posts()
    assert len(posts) == 2 and not summary_posts(slack.fake)
    assert all("empty summary" in call.params["text"] for call in posts)
    assert not any("Recap summary" in posted_text(call) for call in posts)


def test_model_written_links_are_never_live(slack: SlackHarness) -> None:
    hostile = ("Visit https://evil.example.com/login now, or <https://phish.io|the docs>, see "
               "[link: docs.google.com] and www.bank.net, mail ceo@corp.com, [here](http://x.dev/a).")
    deliver.deliver(_job("slack:T1:links"), DeliveredSummary(30, hostile, "m", None, "v1", 5), slack.settings)
    (post,) = summary_posts(slack.fake)
    shown = json.loads(posted_text(post))
    texts = [shown["text"]] + [b["text"]["text"] for b in shown["blocks"] if b["type"] == "section"]
    for text in texts:
        assert not LIVE_LINK.search(text), text
        assert "evil" in text and "docs" in text  # still readable
    assert post.params["unfurl_links"] in (False, "0", "false", "False")


def test_the_failure_notice_falls_back_to_a_dm(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    """The response_url expired and chat.postEphemeral is refused (the requester left the channel):
    the notice comes as a DM from Recap."""
    fake_slack.expired_urls.add("gone")
    fake_slack.errors["chat.postEphemeral"] = "user_not_in_channel"
    job = _job("slack:T1:notice", response_url=fake_slack.response_url("gone"))
    deliver.notify_failure(job, "The summary could not be delivered.", slack.settings)
    (dm,) = [c for c in fake_slack.posts() if c.method == "chat.postMessage"]
    assert dm.params["channel"] == "DU1" and "could not be delivered" in dm.params["text"]


def test_the_failure_notice_waits_out_a_short_limit(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    fake_slack.rate_limit_times["chat.postEphemeral"] = [1, 1]
    deliver.notify_failure(_job("slack:T1:notice2", response_url=""), "Try again later.", slack.settings)
    (notice,) = fake_slack.posts()
    assert notice.method == "chat.postEphemeral" and "Try again later." in notice.params["text"]
