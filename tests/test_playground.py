"""The playground's HTTP API: paste, queue, worker, summary, rating."""

from __future__ import annotations

from fastapi.testclient import TestClient
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from bot.playground.app import create_app
from bot.queue import summary_queue
from bot.store import Store
from config.settings import Settings, load_settings

PASTED = "Alice: Can you send me the slides before the meeting?\nBob: Sure, I'll mail them tonight.\nAlice: Thanks!"


def test_pasted_conversation_is_summarized_and_rated(redis_conn: Redis, settings: Settings) -> None:
    client = TestClient(create_app(settings))
    response = client.post("/api/summaries", json={"text": PASTED, "format": "auto", "request_key": "k1"})
    assert response.status_code == 202
    body = response.json()
    assert body["dialogue"].splitlines()[0].startswith("#Person1#: Can you send me the slides")
    assert body["speakers"] == {"#Person1#": "Alice", "#Person2#": "Bob"}
    waiting = client.get(f"/api/summaries/{body['job_id']}").json()
    assert waiting["status"] == "queued" and "recap worker" in waiting["error"]  # no worker is running yet

    SimpleWorker([summary_queue(settings, redis_conn)], connection=redis_conn, serializer=JSONSerializer).work(
        burst=True)
    state = client.get(f"/api/summaries/{body['job_id']}").json()
    assert state["status"] == "finished" and isinstance(state["summary"], str)

    store = Store.from_settings(settings)
    for rating in (1, -1):
        vote = {"summary_id": state["summary_id"], "rating": rating, "voter": "v1"}
        assert client.post("/api/feedback", json=vote).is_success
    [vote] = store.votes(state["summary_id"])
    assert (vote.rating, vote.source) == (-1, "playground")


def test_double_click_gives_one_job(redis_conn: Redis, settings: Settings) -> None:
    client = TestClient(create_app(settings))
    first = client.post("/api/summaries", json={"text": PASTED, "request_key": "same"}).json()
    second = client.post("/api/summaries", json={"text": PASTED, "request_key": "same"}).json()
    assert first["job_id"] == second["job_id"]
    assert summary_queue(settings, redis_conn).count == 1


def test_empty_and_non_conversations_get_a_clear_message(redis_conn: Redis, settings: Settings) -> None:
    client = TestClient(create_app(settings))
    empty = client.post("/api/summaries", json={"text": "   "})
    assert empty.status_code == 422 and "empty" in empty.json()["error"].lower()
    binary = ("x.bin", b"\x00\xff\xfe\x00garbage", "application/octet-stream")
    garbage = client.post("/api/upload", files={"file": binary})
    assert garbage.status_code == 422 and "error" in garbage.json()
    assert summary_queue(settings, redis_conn).count == 0


def test_upload_of_a_slack_export_shows_the_dialogue(settings: Settings) -> None:
    export = b'[{"type": "message", "user": "U1", "text": "hello <@U2>", "ts": "1700000000.000100",' \
             b' "user_profile": {"real_name": "Ann"}}, {"type": "message", "user": "U2", "text": "hi Ann",' \
             b' "ts": "1700000001.000100", "user_profile": {"real_name": "Ben"}}]'
    response = TestClient(create_app(settings)).post("/api/upload", files={"file": ("general.json", export)})
    assert response.status_code == 200
    assert response.json()["dialogue"] == "#Person1#: hello #Person2#\n#Person2#: hi Ann"


def test_redis_down_is_a_clear_503(settings: Settings) -> None:
    down = load_settings(redis_url="redis://127.0.0.1:1/0", store_url=settings.store_url, model=settings.model)
    response = TestClient(create_app(down)).post("/api/summaries", json={"text": PASTED})
    assert response.status_code == 503 and "Redis" in response.json()["error"]


def test_unknown_rating_target_is_404(settings: Settings) -> None:
    vote = {"summary_id": 999, "rating": 1, "voter": "v"}
    response = TestClient(create_app(settings)).post("/api/feedback", json=vote)
    assert response.status_code == 404
