"""HTTP mode on a real server (issue 12, Slack findings 1 and 4): uvicorn + Starlette in front of the
Bolt app. A burst of signed commands with one idle connection held open is acknowledged within
Slack's 3 s and summarized once each; every malformed body gets an HTTP answer and none a 5xx.

Request formats: https://api.slack.com/interactivity/slash-commands#app_command_handling,
https://api.slack.com/reference/interaction-payloads, https://api.slack.com/apis/events-api.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest
from http_helpers import free_port, idle_connection, post, post_signed, serving
from redis import Redis
from slack_helpers import SlackHarness, summary_posts

from bot.slack_app.server import HEALTH_PATH
from bot.store import store_for
from worker.main import build_worker

BURST, CONCURRENCY = 40, 20


@pytest.mark.slow
def test_a_concurrent_burst_with_an_idle_connection_is_acked_in_time_and_summarized_once(
    slack: SlackHarness,
) -> None:
    urls = [slack.fake.response_url(f"burst{n}") for n in range(BURST)]
    bodies = [slack.command_body("2h", user=f"U{n}", response_url=url) for n, url in enumerate(urls)]
    with serving(slack.app) as port, idle_connection(port):
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            answers = list(pool.map(lambda body: post_signed(port, body), bodies))
    statuses = [status for status, _, _ in answers]
    seconds = sorted(elapsed for _, _, elapsed in answers)
    print(f"burst acks: p50 {seconds[BURST // 2] * 1000:.0f} ms, max {seconds[-1] * 1000:.0f} ms")
    assert statuses == [200] * BURST
    assert seconds[-1] < 3.0
    started = time.perf_counter()
    slack.executor.drain(60)
    assert len(slack.job_ids()) == BURST
    collected = time.perf_counter()
    build_worker(slack.settings, slack.redis).work(burst=True)  # the real worker, batching waiting jobs
    print(f"collection {collected - started:.1f} s, worker {time.perf_counter() - collected:.1f} s")
    delivered = [call.params["_url"] for call in summary_posts(slack.fake)]
    assert sorted(delivered) == sorted(url.rsplit("/", 1)[-1] for url in urls)  # each once
    assert len(store_for(slack.settings).recent_summaries(limit=100)) == BURST


def _block_actions(actions: object) -> str:
    payload = {"type": "block_actions", "team": {"id": "T1"}, "user": {"id": "U1"}, "actions": actions,
               "trigger_id": "t", "response_url": "http://127.0.0.1:9/x"}
    return urlencode({"payload": json.dumps(payload)})


def _event(event: object) -> str:
    return json.dumps({"type": "event_callback", "team_id": "T1", "event_id": "Ev1", "event": event})


MALFORMED = {  # what Slack never sends: 400 with a short reason
    "actions empty": (_block_actions([]), "application/x-www-form-urlencoded"),
    "actions null": (_block_actions(None), "application/x-www-form-urlencoded"),
    "actions a string": (_block_actions("recap_vote_up"), "application/x-www-form-urlencoded"),
    "event a string": (_event("app_mention"), "application/json"),
    "event a list": (_event([{"type": "app_mention"}]), "application/json"),
    "bad JSON in payload=": (urlencode({"payload": "{not json"}), "application/x-www-form-urlencoded"),
    "payload= an array": (urlencode({"payload": "[1, 2]"}), "application/x-www-form-urlencoded"),
    "payload= a string": (urlencode({"payload": '"x"'}), "application/x-www-form-urlencoded"),
    "payload= null": (urlencode({"payload": "null"}), "application/x-www-form-urlencoded"),
    "payload= a number": (urlencode({"payload": "42"}), "application/x-www-form-urlencoded"),
    "JSON array": ("[1]", "application/json"),
    "JSON string": ('"event_callback"', "application/json"),
    "JSON null": ("null", "application/json"),
    "JSON number": ("7", "application/json"),
    "bad JSON body": ('{"type": ', "application/json"),
    "channel a number": (urlencode({"payload": json.dumps({"type": "message_action", "channel": 5})}),
                         "application/x-www-form-urlencoded"),
    "not UTF-8": (b"text=\xff\xfe", "application/x-www-form-urlencoded"),
}


def test_every_malformed_body_gets_a_4xx_answer(slack: SlackHarness) -> None:
    with serving(slack.app) as port:
        for name, (body, content_type) in MALFORMED.items():
            status, text, _ = post_signed(port, body, content_type)
            assert status == 400 and 0 < len(text) < 100, (name, status, text)
        status, text, _ = post_signed(port, slack.command_body("2h"), timestamp="17e8")
        assert status == 400 and "timestamp" in text.lower()
        data = slack.command_body("2h").encode()
        status, text, _ = post(port, data, {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 401  # unsigned: refused before the body is looked at
    assert not slack.job_ids()


@pytest.mark.parametrize("text", ["²", "①", "٣", "2h ²", "1²"])
def test_non_ascii_digits_get_the_usage_note(slack: SlackHarness, text: str) -> None:
    with serving(slack.app) as port:
        status, body, _ = post_signed(port, slack.command_body(text))
    assert status == 200 and "Usage" in body
    slack.executor.drain()
    assert not slack.job_ids()


def test_the_word_payload_changes_nothing(slack: SlackHarness) -> None:
    """Bolt read any form body containing "payload" as an interactive payload and dropped it unanswered:
    the word must behave like any other word (an unknown argument, a channel or user name)."""
    renamed = slack.command_body("2h").replace("channel_name=general", "channel_name=payload")
    bodies = {
        "payload": slack.command_body("payload"), "banana": slack.command_body("banana"),
        "2h payload": slack.command_body("2h payload"), "2h banana": slack.command_body("2h banana"),
        "named payload": renamed.replace("user_name=alice", "user_name=payload"),
    }
    with serving(slack.app) as port:
        answers = {name: post_signed(port, body)[:2] for name, body in bodies.items()}
    assert answers["payload"] == answers["banana"] and "Usage" in answers["payload"][1]
    assert answers["2h payload"] == answers["2h banana"] and answers["payload"][0] == 200
    assert answers["named payload"] == (200, "Reading the conversation for your summary…")
    slack.executor.drain()
    assert len(slack.job_ids()) == 1


def test_health_answers_beside_the_events_endpoint(slack: SlackHarness) -> None:
    def redis_down() -> None:
        raise ConnectionError("Redis is down")

    with serving(slack.app, health=slack.redis.ping) as port:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{HEALTH_PATH}", timeout=5) as response:
            assert response.status == 200 and json.load(response)["status"] == "ok"
    with serving(slack.app, health=redis_down) as port:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{HEALTH_PATH}", timeout=5)
        assert refused.value.code == 503


def test_an_idle_connection_does_not_delay_the_next_request(slack: SlackHarness) -> None:
    with serving(slack.app) as port, idle_connection(port):
        time.sleep(0.2)
        status, _, seconds = post_signed(port, slack.command_body("2h"))
    assert status == 200 and seconds < 1.0


@pytest.mark.slow
def test_recap_slack_http_mode_serves_events_and_health(
    slack: SlackHarness, tmp_path: Path, redis_conn: Redis
) -> None:
    """The real entry point: `recap slack --mode http --port N` answers /health and a signed command."""
    port = free_port()
    env = dict(os.environ, RECAP_REDIS_URL=slack.settings.redis_url, RECAP_STORE_URL=f"sqlite:///{tmp_path}/s.db",
               RECAP_SLACK_BOT_TOKEN="xoxb-test", RECAP_SLACK_SIGNING_SECRET="secret",
               RECAP_SLACK_API_URL=slack.fake.url, RECAP_SLACK_HOST="127.0.0.1")
    server = subprocess.Popen([sys.executable, "-m", "recap", "slack", "--mode", "http", "--port", str(port)],
                              env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{HEALTH_PATH}", timeout=2) as response:
                    assert response.status == 200
                    break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
                time.sleep(0.3)
        status, text, seconds = post_signed(port, slack.command_body("2h"))
        assert status == 200 and "Reading the conversation" in text and seconds < 3.0
        deadline = time.monotonic() + 20
        while not redis_conn.keys("rq:job:*") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert redis_conn.keys("rq:job:*")  # collected and queued by the served app
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    output = server.stdout.read().decode() if server.stdout else ""
    assert "Traceback" not in output and "Shall we ship" not in output
