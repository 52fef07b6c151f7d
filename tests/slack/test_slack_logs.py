"""No message text in logs from any library (issue 12, Slack finding 5).

Bolt's request verification logs the whole body of a request whose signature fails (INFO), and its
dispatcher the body of an unhandled request (WARNING); slack_sdk logs request and response bodies at
DEBUG. A marker word in forged, unhandled and ordinary requests, and in the history Recap reads,
must appear in no log record, with the root logger at DEBUG.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

import pytest
from http_helpers import post, post_signed, serving
from slack_helpers import CHANNEL, NOW, THREAD_TS, SlackHarness

MARKER = "zebracorn"


def _shortcut(callback_id: str) -> dict[str, object]:
    return {
        "type": "message_action", "callback_id": callback_id, "trigger_id": "trig-log",
        "team": {"id": "T1", "domain": "acme"}, "channel": {"id": CHANNEL, "name": "general"},
        "user": {"id": "U1", "team_id": "T1"}, "message_ts": THREAD_TS, "response_url": "http://127.0.0.1:9/r",
        "message": {"type": "message", "user": "U2", "ts": THREAD_TS, "text": f"the secret {MARKER} plan"},
    }


def _leaks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()[:80]}" for r in caplog.records
            if MARKER in r.getMessage() or MARKER in str(r.args) or MARKER in str(r.exc_text or "")]


def test_no_request_or_history_text_reaches_any_log(slack: SlackHarness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    slack.fake.add_message(CHANNEL, "U1", f"Our {MARKER} launch is on Monday.", NOW - 1000)
    forged = urlencode({"payload": json.dumps(_shortcut("recap_summarize_thread"))})
    response, _ = slack.dispatch(forged, "application/x-www-form-urlencoded", signature="v0=" + "0" * 64)
    assert response.status == 401
    unhandled, _ = slack.interactive(_shortcut("someone_elses_shortcut"))
    assert unhandled.status == 404
    with serving(slack.app) as port:
        status, _, _ = post(port, forged.encode(), {"Content-Type": "application/x-www-form-urlencoded",
                                                    "X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=x"})
        assert status == 401
        status, _, _ = post_signed(port, slack.command_body(f"2h {MARKER}"))  # an unknown word: usage
        assert status == 200
        status, _, _ = post_signed(port, slack.command_body("2h"))  # reads the history with the marker
        assert status == 200
    slack.executor.drain()
    assert slack.job_ids()  # the history was read and queued
    (job,) = slack.jobs()
    assert MARKER in job.args[0]["dialogue"]  # the marker did pass through Recap...
    assert caplog.records  # ...and logging was on
    assert _leaks(caplog) == []
