"""Backpressure and input bounds at enqueue, Redis faults by cause, and one connection pool per process."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from redis import Redis
from rq import Callback
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from bot.dialogue import EmptyConversationError
from bot.queue import (
    BUSY_MESSAGE,
    MAX_CLIENTS_MESSAGE,
    OUT_OF_MEMORY_MESSAGE,
    UNREACHABLE_MESSAGE,
    QueueBusyError,
    QueueMaxClientsError,
    QueueOutOfMemoryError,
    QueueUnavailableError,
    SummaryJob,
    enqueue_summary,
    redis_connection,
    summary_queue,
)
from bot.queue_limits import InputTooLongError, estimate_tokens, queued_ttl_s
from bot.store import Store
from config.settings import Settings
from worker.main import build_worker

DIALOGUE = "#Person1#: Are we shipping on Friday?\n#Person2#: Yes, after the docs are done."


def job(request_id: str, workspace: str = "T1", **extra: object) -> SummaryJob:
    fields: dict[str, object] = dict(request_id=request_id, platform="slack", workspace=workspace,
                                     dialogue=DIALOGUE, message_count=2)
    fields.update(extra)
    return SummaryJob(**fields)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def own_redis() -> Iterator[tuple[str, Redis]]:
    """A redis-server of this test's own (its limits get changed), and an admin client to it."""
    port = free_port()
    proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL)
    admin = Redis(port=port)
    for _ in range(50):
        try:
            admin.ping()
            break
        except Exception:  # noqa: BLE001 - still starting
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0", admin
    admin.close()
    proc.terminate()
    proc.wait(timeout=10)


def test_the_total_bound_refuses_at_once_with_the_busy_message(redis_conn: Redis, settings: Settings) -> None:
    bounded = settings.model_copy(update={"max_queued": 5})
    for n in range(5):
        assert enqueue_summary(job(f"slack:T{n}:r", workspace=f"T{n}"), bounded, redis_conn).created
    with pytest.raises(QueueBusyError, match=BUSY_MESSAGE):
        enqueue_summary(job("slack:T9:r", workspace="T9"), bounded, redis_conn)
    assert summary_queue(bounded, redis_conn).count == 5  # nothing queued past the bound, nothing dropped


def test_one_workspace_cannot_take_the_whole_queue(redis_conn: Redis, settings: Settings) -> None:
    bounded = settings.model_copy(update={"max_queued": 10, "max_queued_per_workspace": 2})
    enqueue_summary(job("slack:T1:a"), bounded, redis_conn)
    enqueue_summary(job("slack:T1:b"), bounded, redis_conn)
    with pytest.raises(QueueBusyError, match=BUSY_MESSAGE):
        enqueue_summary(job("slack:T1:c"), bounded, redis_conn)
    assert not enqueue_summary(job("slack:T1:a"), bounded, redis_conn).created  # a retry is not refused
    assert enqueue_summary(job("slack:T2:a", workspace="T2"), bounded, redis_conn).created
    build_worker(bounded, redis_conn).work(burst=True)  # T1's jobs run: its places free up
    assert enqueue_summary(job("slack:T1:c"), bounded, redis_conn).created


def test_a_lost_job_does_not_hold_its_workspace_place_for_ever(redis_conn: Redis, settings: Settings) -> None:
    bounded = settings.model_copy(update={"max_queued": 10, "max_queued_per_workspace": 1})
    lost = enqueue_summary(job("slack:T1:a"), bounded, redis_conn)
    redis_conn.delete(f"rq:job:{lost.job_id}")  # e.g. deleted by hand, or expired
    assert enqueue_summary(job("slack:T1:b"), bounded, redis_conn).created


def test_a_queued_job_outlives_the_longest_backlog_the_bound_allows(redis_conn: Redis, settings: Settings) -> None:
    enqueued = enqueue_summary(job("slack:T1:a"), settings, redis_conn)
    longest_backlog = settings.max_queued * settings.job_timeout_s
    assert Job.fetch(enqueued.job_id, connection=redis_conn, serializer=JSONSerializer).ttl == queued_ttl_s(settings)
    assert redis_conn.ttl(f"rq:job:{enqueued.job_id}") > longest_backlog


@pytest.mark.parametrize("dialogue", ["", "   \n  ", "#Person1#: \x00\x01\x7f\n#Person2#:  \t", "#Person1#:"])
def test_a_dialogue_with_no_words_is_refused_at_enqueue(dialogue: str, redis_conn: Redis, settings: Settings) -> None:
    with pytest.raises(EmptyConversationError, match="nothing to summarize"):
        enqueue_summary(job("slack:T1:empty", dialogue=dialogue), settings, redis_conn)
    assert summary_queue(settings, redis_conn).count == 0


def test_an_old_empty_job_fails_clearly_in_the_worker(redis_conn: Redis, settings: Settings) -> None:
    queue = summary_queue(settings, redis_conn)  # queued as an older version would have, past today's check
    payload = job("slack:T1:old", dialogue="#Person1#: \x00").to_payload()
    queue.enqueue_call("worker.jobs.summarize", args=(payload,), job_id="recap-old",
                       on_failure=Callback("worker.jobs.on_failure"))
    build_worker(settings, redis_conn).work(burst=True)
    old = Job.fetch("recap-old", connection=redis_conn, serializer=JSONSerializer)
    assert old.get_status() == JobStatus.FAILED
    assert "nothing to summarize" in old.meta["user_error"]
    assert Store.from_settings(settings).recent_summaries() == []


def test_input_past_the_message_bound_is_refused_naming_the_limit(redis_conn: Redis, settings: Settings) -> None:
    bounded = settings.model_copy(update={"max_job_messages": 3})
    assert enqueue_summary(job("slack:T1:three", message_count=3), bounded, redis_conn).created
    with pytest.raises(InputTooLongError, match=r"4 messages; one summary covers at most 3 \(RECAP_MAX_JOB_MESSAGES\)"):
        enqueue_summary(job("slack:T1:four", message_count=4), bounded, redis_conn)


def test_input_past_the_token_bound_is_refused_naming_the_limit(redis_conn: Redis, settings: Settings) -> None:
    long_dialogue = "\n".join(f"#Person{n % 2 + 1}#: we should ship the release on friday" for n in range(200))
    tokens = estimate_tokens(long_dialogue)
    assert 2000 < tokens < 3000  # about what a T5 tokenizer makes of it
    bounded = settings.model_copy(update={"max_job_tokens": tokens})
    assert enqueue_summary(job("slack:T1:at", dialogue=long_dialogue), bounded, redis_conn).created
    with pytest.raises(InputTooLongError, match=r"about \d+ tokens, and one summary takes at most \d+ "
                                                r"\(RECAP_MAX_JOB_TOKENS\)"):
        enqueue_summary(job("slack:T1:past", dialogue=long_dialogue + " again"), bounded, redis_conn)


def test_redis_out_of_memory_has_its_own_message(own_redis: tuple[str, Redis], settings: Settings,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    url, admin = own_redis
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", "1")
    with caplog.at_level(logging.INFO, "recap.queue"), pytest.raises(QueueOutOfMemoryError) as caught:
        enqueue_summary(job("slack:T1:a"), settings.model_copy(update={"redis_url": url}))
    assert str(caught.value) == OUT_OF_MEMORY_MESSAGE
    assert "out of memory (OOM command not allowed)" in caplog.text


def test_redis_max_clients_has_its_own_message(own_redis: tuple[str, Redis], settings: Settings,
                                               caplog: pytest.LogCaptureFixture) -> None:
    url, admin = own_redis
    admin.config_set("maxclients", "1")  # the admin client holds the only one
    with caplog.at_level(logging.INFO, "recap.queue"), pytest.raises(QueueMaxClientsError) as caught:
        enqueue_summary(job("slack:T1:a"), settings.model_copy(update={"redis_url": url}))
    assert str(caught.value) == MAX_CLIENTS_MESSAGE
    assert "max number of clients reached" in caplog.text


def test_redis_refusing_connections_has_its_own_message(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    down = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with caplog.at_level(logging.INFO, "recap.queue"), pytest.raises(QueueUnavailableError) as caught:
        enqueue_summary(job("slack:T1:a"), down)
    assert type(caught.value) is QueueUnavailableError and str(caught.value) == UNREACHABLE_MESSAGE
    assert "is not reachable (ConnectionError" in caplog.text
    assert len({OUT_OF_MEMORY_MESSAGE, MAX_CLIENTS_MESSAGE, UNREACHABLE_MESSAGE, BUSY_MESSAGE}) == 4


def test_one_client_per_process_and_url(settings: Settings) -> None:
    assert redis_connection(settings) is redis_connection(settings.model_copy())
    assert redis_connection(settings).connection_pool is redis_connection(settings).connection_pool


def _client_count(admin: Redis) -> int:
    return len(admin.client_list())


@pytest.mark.slow
def test_300_playground_requests_leave_the_redis_client_count_where_it_was(
    own_redis: tuple[str, Redis], settings: Settings
) -> None:
    from starlette.testclient import TestClient

    from bot.playground.app import create_app

    url, admin = own_redis  # a server of its own: CLIENT LIST counts only this test's clients
    roomy = settings.model_copy(update={"max_queued_per_workspace": 1000, "redis_url": url})
    with TestClient(create_app(roomy)) as client:
        body = {"text": "Alice: are we shipping on Friday?\nBob: yes, after the docs are done."}
        first = client.post("/api/summaries", json=body)
        assert first.status_code == 202, first.text
        before = _client_count(admin)
        for _ in range(300):
            made = client.post("/api/summaries", json=body)
            assert made.status_code == 202
            assert client.get(f"/api/summaries/{made.json()['job_id']}").json()["status"] == "queued"
        after = _client_count(admin)
    assert after <= before + 2, (before, after)
    assert summary_queue(roomy, admin).count == 301


def test_the_playground_answers_busy_for_the_sixth_request(redis_conn: Redis, settings: Settings) -> None:
    from starlette.testclient import TestClient

    from bot.playground.app import create_app

    bounded = settings.model_copy(update={"max_queued": 5})
    body = {"text": "Alice: are we shipping on Friday?\nBob: yes, after the docs are done."}
    with TestClient(create_app(bounded)) as client:
        assert [client.post("/api/summaries", json=body).status_code for _ in range(5)] == [202] * 5
        sixth = client.post("/api/summaries", json=body)
    assert sixth.status_code == 503 and BUSY_MESSAGE in sixth.json()["error"]
    assert summary_queue(bounded, redis_conn).count == 5
