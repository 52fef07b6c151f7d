"""`recap eval tune-generation` feeding the worker, and `recap eval prompts --seed-exact`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from bot.queue import summary_queue
from bot.store import Store
from config.settings import Settings, load_settings, set_active_settings
from recap import cli
from training.data import load_split
from training.prompts import make_prompt, shot_block

CHAT = "Alice: Can you send me the slides before the meeting?\nBob: Sure, I'll mail them tonight.\nAlice: Thanks!"


def _main(argv: list[str]) -> None:
    try:
        cli.main(argv)
    except SystemExit as exit_:
        assert exit_.code in (0, None), f"exit status {exit_.code}"


def _worker_row(settings: object, redis_conn: Redis) -> object:
    from bot.playground.app import create_app

    client = TestClient(create_app(settings))
    job = client.post("/api/summaries", json={"text": CHAT, "request_key": "tuned"}).json()
    SimpleWorker([summary_queue(settings, redis_conn)], connection=redis_conn, serializer=JSONSerializer).work(
        burst=True)
    state = client.get(f"/api/summaries/{job['job_id']}").json()
    assert state["status"] == "done", state
    return Store.from_settings(settings).get_summary(state["summary_id"])


@pytest.mark.slow
def test_tuned_generation_is_what_the_worker_uses(
    tmp_path: Path, tiny_model: Path, tiny_adapter: Path, dialogsum_dir: Path, redis_conn: Redis, settings: Settings
) -> None:
    from worker.model.runtime import clear_runtime_cache

    redis_url = settings.redis_url  # the test database; the fixture's own generation settings are not used

    adapter = tmp_path / "adapter"
    shutil.copytree(tiny_adapter, adapter)
    _main(["eval", "tune-generation", "--adapter", str(adapter), "--model", str(tiny_model), "--data",
           str(dialogsum_dir), "--limit", "4", "--beams", "1,2", "--length-penalties", "0.8,1.4",
           "--max-new-tokens", "6,9", "--no-repeat-ngram", "0,2", "--device", "cpu"])
    saved = json.loads((adapter / "generation.json").read_text())
    search = json.loads((adapter / "generation-search.json").read_text())
    assert len(search["results"]) == 12 and search["best"]["generation"] == saved  # 2x2 greedy + 2x2x2 beams
    assert search["best"]["rougeL"] == max(r["rougeL"] for r in search["results"])
    assert all(r["length_ratio"] > 0 for r in search["results"])

    clear_runtime_cache()
    tuned = load_settings(redis_url=redis_url, store_url=f"sqlite:///{tmp_path / 'a.db'}", model=str(tiny_model),
                          adapter=str(adapter))
    set_active_settings(tuned)
    try:
        row = _worker_row(tuned, redis_conn)
        assert row.generation == saved and row.adapter == str(adapter)
        # An operator's explicit setting still wins over the file.
        explicit = load_settings(redis_url=redis_url, store_url=f"sqlite:///{tmp_path / 'b.db'}",
                                 model=str(tiny_model), adapter=str(adapter), max_new_tokens=5)
        set_active_settings(explicit)
        redis_conn.flushdb()
        row = _worker_row(explicit, redis_conn)
        assert row.generation == {**saved, "max_new_tokens": 5}
    finally:
        set_active_settings(None)
        clear_runtime_cache()


def test_tune_generation_refuses_the_test_split(tmp_path: Path, tiny_model: Path, dialogsum_dir: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["eval", "tune-generation", "--model", str(tiny_model), "--data", str(dialogsum_dir),
                  "--split", "test", "--out", str(tmp_path)])
    assert exit_.value.code == 2 and not (tmp_path / "generation.json").exists()


def test_seed_exact_prompts_use_the_seeds_dialogues_and_annotators(
    tmp_path: Path, tiny_model: Path, dialogsum_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _main(["eval", "prompts", "--seed-exact", "--model", str(tiny_model), "--data", str(dialogsum_dir),
           "--max-new-tokens", "4", "--device", "cpu", "--out", str(tmp_path), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["shot_ids"] == ["test_13#2", "test_26#3", "test_40#1"] and data["target_ids"] == ["test_66"]
    assert [t["template"] for t in data["templates"]] == ["zero-shot-seed", "one-shot", "few-shot"]
    test = {e.id: e for e in load_split(str(dialogsum_dir), "test")}
    # Hub row 40 = test_13 annotator 2, row 80 = test_26 annotator 3, row 120 = test_40 annotator 1.
    shots = [test["test_13"], test["test_26"], test["test_40"]]
    summaries = [shots[0].references[1], shots[1].references[2], shots[2].references[0]]
    few = (tmp_path / "prompt-few-shot.txt").read_text()
    for shot, summary in zip(shots, summaries, strict=True):
        assert f"{shot.dialogue}\n\nWhat was going on?\n{summary}\n\n\n" in few
    assert few.endswith(f"Dialogue:\n\n{test['test_66'].dialogue}\n\nWhat was going on?\n")
    assert (tmp_path / "prompt-one-shot.txt").read_text().startswith(shot_block(_annotated(shots[0], 2)))
    assert few == make_prompt("few-shot", test["test_66"].dialogue, [_annotated(s, n) for s, n in
                                                                     zip(shots, (2, 3, 1), strict=True)])
    tokens = {t["template"]: t["max_prompt_tokens"] for t in data["templates"]}
    assert tokens["zero-shot-seed"] < tokens["one-shot"] < tokens["few-shot"]
    assert all(t["past_training_length"] == (t["max_prompt_tokens"] > 512) for t in data["templates"])
    assert data["templates"][0]["protocol_a"]["n"] == 3  # test_66 scored against its three references


def _annotated(example: object, annotator: int) -> object:
    from training.data import with_annotator

    return with_annotator(example, annotator)


def test_shot_ids_take_an_annotator_and_ids_pick_targets(
    tiny_model: Path, dialogsum_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _main(["eval", "prompts", "--model", str(tiny_model), "--data", str(dialogsum_dir), "--shot-split", "test",
           "--shot-ids", "test_13#2", "--ids", "test_5,test_7", "--templates", "one-shot", "--max-new-tokens", "4",
           "--device", "cpu", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["shot_ids"] == ["test_13#2"] and data["target_ids"] == ["test_5", "test_7"]
    with pytest.raises(SystemExit) as exit_:
        cli.main(["eval", "prompts", "--model", str(tiny_model), "--data", str(dialogsum_dir), "--shot-split",
                  "test", "--shot-ids", "test_13#4", "--device", "cpu"])
    assert exit_.value.code == 2 and "3 annotator" in capsys.readouterr().err
