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
    assert waiting["position"] == 1

    SimpleWorker([summary_queue(settings, redis_conn)], connection=redis_conn, serializer=JSONSerializer).work(
        burst=True)
    state = client.get(f"/api/summaries/{body['job_id']}").json()
    assert state["status"] == "done" and isinstance(state["summary"], str)
    assert state["answered_by"]["model"] == settings.model and state["answered_by"]["random_test_model"] is True
    from worker.model.runtime import get_runtime

    assert state["answered_by"]["backend"] == get_runtime(settings).backend_name  # the one that served it

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


def chat(lines: int, words: str = "lunch at noon?") -> str:
    return "\n".join(f"{'Ann' if i % 2 else 'Ben'}: {i} {words}" for i in range(lines))


def test_queue_position_and_status_transitions_with_a_real_worker(redis_conn: Redis, settings: Settings) -> None:
    import threading
    import time

    from worker.model.runtime import clear_runtime_cache

    client = TestClient(create_app(settings))
    first, second = (client.post("/api/summaries", json={"text": chat(4), "request_key": key}).json()["job_id"]
                     for key in ("first", "second"))
    assert [client.get(f"/api/summaries/{job}").json()["position"] for job in (first, second)] == [1, 2]
    clear_runtime_cache()  # the worker's first job loads the model, so "summarizing" lasts long enough to see
    seen: dict[str, list[str]] = {first: [], second: []}
    stop = threading.Event()

    def watch() -> None:  # the page's polling; the worker runs in the main thread (RQ installs signal handlers)
        while not stop.is_set():
            for job, statuses in seen.items():
                state = client.get(f"/api/summaries/{job}").json()
                if not statuses or statuses[-1] != state["status"]:
                    statuses.append(state["status"])
                assert state["status"] != "summarizing" or state["elapsed_s"] >= 0
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        SimpleWorker([summary_queue(settings, redis_conn)], connection=redis_conn, serializer=JSONSerializer).work(
            burst=True)
        time.sleep(0.2)
    finally:
        stop.set()
        watcher.join()
    assert seen[first][-2:] == ["summarizing", "done"], seen
    assert seen[second][0] == "queued" and seen[second][-1] == "done", seen
    assert set(seen[first] + seen[second]) <= {"queued", "summarizing", "done"}


def test_paste_over_the_message_limit_is_cut_with_a_note(redis_conn: Redis, settings: Settings) -> None:
    limited = settings.model_copy(update={"max_messages": 5})
    client = TestClient(create_app(limited))
    body = client.post("/api/summaries", json={"text": chat(12)}).json()
    assert body["message_count"] == 5 and len(body["dialogue"].splitlines()) == 5
    assert body["dialogue"].splitlines()[-1].endswith("11 lunch at noon?")  # the most recent messages are kept
    assert "Only the last 5 of 12 messages" in body["note"] and "RECAP_MAX_MESSAGES" in body["note"]
    [job] = summary_queue(limited, redis_conn).get_jobs()
    assert job.args[0]["message_count"] == 5
    upload = client.post("/api/upload", files={"file": ("chat.txt", chat(12).encode())}).json()
    assert upload["message_count"] == 5 and "Only the last 5 of 12" in upload["note"]


def test_paste_longer_than_a_job_can_take_is_cut_with_a_note(settings: Settings) -> None:
    small = settings.model_copy(update={"playground_max_chars": 300})
    body = TestClient(create_app(small)).post("/api/preview", json={"text": chat(200)}).json()
    assert len(body["dialogue"]) <= 300 + 20 * body["message_count"]  # speaker tags are added after the cut
    assert body["message_count"] < 200 and "RECAP_PLAYGROUND_MAX_CHARS" in body["note"]
    assert "job timeout" in body["note"]


def test_sixth_request_gets_the_busy_answer_at_once(redis_conn: Redis, settings: Settings) -> None:
    from bot.queue import BUSY_MESSAGE

    client = TestClient(create_app(settings.model_copy(update={"max_queued": 5})))
    answers = [client.post("/api/summaries", json={"text": chat(2), "request_key": f"k{i}"}) for i in range(6)]
    assert [answer.status_code for answer in answers] == [202] * 5 + [503]
    assert answers[-1].json()["error"] == BUSY_MESSAGE and answers[-1].headers["Retry-After"]
    assert summary_queue(settings, redis_conn).count == 5


def test_pasted_text_and_files_get_their_own_wording(settings: Settings) -> None:
    client = TestClient(create_app(settings))
    pasted = client.post("/api/preview", json={"text": "Ann: hi\nBen: there\x01 you are"})
    assert pasted.status_code == 422
    assert "pasted text" in pasted.json()["error"] and "line 2" in pasted.json()["error"]
    assert "not a text file" not in pasted.json()["error"]
    uploaded = client.post("/api/upload", files={"file": ("chat.txt", b"Ann: hi\x00")})
    assert uploaded.status_code == 422 and "chat.txt is not a text file" in uploaded.json()["error"]


def test_requests_share_one_redis_client(redis_conn: Redis, settings: Settings) -> None:
    def clients() -> int:  # on this test's database only: other sessions share the server
        db = str(redis_conn.connection_pool.connection_kwargs["db"])
        return sum(1 for entry in redis_conn.client_list() if entry["db"] == db)

    client = TestClient(create_app(settings))
    before = clients()
    for index in range(30):
        job = client.post("/api/summaries", json={"text": chat(2), "request_key": f"c{index}"}).json()["job_id"]
        client.get(f"/api/summaries/{job}")
    assert clients() <= before + 1


def test_health_says_which_model_and_whether_it_is_random(redis_conn: Redis, settings: Settings) -> None:
    health = TestClient(create_app(settings)).get("/api/health").json()
    assert health["model"] == settings.model and health["random_test_model"] is True
    assert health["worker"]["state"] == "none" and "recap worker" in health["worker"]["reason"]


def test_page_has_one_model_input_panel_and_wraps_long_text(settings: Settings) -> None:
    page = TestClient(create_app(settings)).get("/").text
    assert page.count('id="sees"') == 1 and page.count("What the model sees") == 2  # the panel and its JS title
    assert "overflow-wrap: anywhere" in page and 'id="random-banner"' in page and "sees-legend" in page


def test_demo_worker_states_reach_the_page(redis_conn: Redis, settings: Settings) -> None:
    """Loading until the demo's worker registers; once it exits, its last error line is the page's reason."""
    import subprocess
    import sys
    import time

    from bot.playground.workers import DemoWorker

    script = "import sys, time; time.sleep(1.5); print('Error: RECAP_MODEL broke', file=sys.stderr); sys.exit(3)"
    process = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    worker = DemoWorker(process, redis_conn, settings)
    client = TestClient(create_app(settings, workers=worker))
    job = client.post("/api/summaries", json={"text": PASTED}).json()["job_id"]
    loading = client.get(f"/api/summaries/{job}").json()
    assert loading["status"] == "loading" and loading["position"] == 1
    assert client.get("/api/health").json()["worker"]["state"] == "loading"
    process.wait(timeout=30)
    time.sleep(0.1)
    failed = client.get(f"/api/summaries/{job}").json()
    assert failed["status"] == "failed"
    assert "exit status 3" in failed["error"] and "RECAP_MODEL broke" in failed["error"]
    assert client.get("/api/health").json()["worker"]["state"] == "stopped"
