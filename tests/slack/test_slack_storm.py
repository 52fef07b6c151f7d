"""Acks never wait on Slack's rate limits (issue 12, Slack finding 6), and a full queue answers at once.

conversations.history and conversations.replies answer 429 with ``Retry-After: 20`` to every read
(https://api.slack.com/apis/rate-limits): the collections wait on their own threads, every command is
still acknowledged within Slack's 3 s, and every requester hears that reading is waiting.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from fakes.slack_api import FakeSlackAPI
from redis import Redis
from slack_helpers import make_harness

from bot.queue import BUSY_MESSAGE
from config.settings import Settings

BURST = 12


def _notes(fake: FakeSlackAPI, url: str) -> list[str]:
    return [c.params.get("text", "") for c in fake.calls_to("response_url") if c.params.get("_url") == url]


def test_a_history_rate_limit_storm_never_delays_an_ack(
    slack_settings: Settings, fake_slack: FakeSlackAPI, redis_conn: Redis
) -> None:
    fake_slack.rate_limited.update({"conversations.history": 20, "conversations.replies": 20})
    # Fewer Bolt threads than commands: before collections had their own pool, the sleeping 429
    # retries of the first few requests held every thread the later acks needed.
    harness = make_harness(slack_settings, fake_slack, redis_conn, listener_threads=4, collection_threads=4)
    urls = [fake_slack.response_url(f"storm{n}") for n in range(BURST)]
    bodies = [harness.command_body("2h", user=f"U{n}", response_url=url) for n, url in enumerate(urls)]
    try:
        with ThreadPoolExecutor(BURST) as pool:
            acks = list(pool.map(lambda body: harness.dispatch(body, "application/x-www-form-urlencoded"), bodies))
        assert all(response.status == 200 for response, _ in acks)
        slowest = max(seconds for _, seconds in acks)
        print(f"slowest ack under a 429 storm: {slowest * 1000:.0f} ms")
        assert slowest < 3.0
        waiting = [url.rsplit("/", 1)[-1] for url in urls]
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and not all(
            any("limiting how fast" in note for note in _notes(fake_slack, name)) for name in waiting
        ):
            time.sleep(0.1)
        for name in waiting:
            assert any("about 20 s" in note for note in _notes(fake_slack, name)), name
        assert not harness.job_ids()  # nothing was summarized from a partial read
    finally:
        harness.stopping.set()
        harness.executor.drain()
        harness.executor.shutdown()


def test_a_full_queue_answers_busy_at_once(slack_settings: Settings, fake_slack: FakeSlackAPI,
                                           redis_conn: Redis) -> None:
    """RECAP_MAX_QUEUED=5: the sixth /summarize through the real Bolt app hears BUSY_MESSAGE."""
    harness = make_harness(slack_settings.model_copy(update={"max_queued": 5}), fake_slack, redis_conn)
    for n in range(5):
        harness.command("2h", user=f"U{n}", response_url=fake_slack.response_url(f"q{n}"))
    harness.executor.drain()
    assert len(harness.job_ids()) == 5
    response, seconds = harness.command("2h", user="U9", response_url=fake_slack.response_url("q9"))
    harness.executor.drain()
    assert response.status == 200 and seconds < 3.0
    assert _notes(fake_slack, "q9") == [BUSY_MESSAGE]
    assert len(harness.job_ids()) == 5
    harness.command("2h", user="U9", response_url=fake_slack.response_url("q10"))  # a repeat is not ignored
    harness.executor.drain()
    assert _notes(fake_slack, "q10") == [BUSY_MESSAGE]
    harness.executor.shutdown()
