"""The store on SQLite and on the PostgreSQL that runs here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.store import Store, Summary
from bot.store.schema import upgrade_store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, sqlite_url: str) -> Store:
    if request.param == "sqlite":
        return Store(sqlite_url, retention_days=30)
    url = request.getfixturevalue("postgres_url")
    upgrade_store(url)  # services never create tables on PostgreSQL: `recap store upgrade` does
    store = Store(url, retention_days=30)
    with store.session() as session:  # the PostgreSQL database is shared by the session's tests
        for table in ("shared_dialogues", "feedback", "workspace_settings", "summaries"):
            session.execute(__import__("sqlalchemy").text(f"DELETE FROM {table}"))
    return store


def summary_fields(request_id: str = "slack:T1:abc", **extra: object) -> dict[str, object]:
    fields: dict[str, object] = dict(
        request_id=request_id, platform="slack", workspace="T1", channel="C1", thread=None, requester="U1",
        model="google/flan-t5-base", adapter="adapters/dialogsum-lora", prompt_version="summarize-v1-abc",
        prompt="Summarize…", generation={"num_beams": 1}, input_tokens=120, output_tokens=20, latency_ms=350,
        text="Alice and Bob agree to ship on Friday.", message_count=4,
    )
    fields.update(extra)
    return fields


def test_summary_row_records_model_adapter_and_prompt(store: Store) -> None:
    summary_id = store.record_summary(**summary_fields())
    row = store.get_summary(summary_id)
    assert row is not None
    assert (row.model, row.adapter, row.prompt_version) == (
        "google/flan-t5-base", "adapters/dialogsum-lora", "summarize-v1-abc")
    assert row.generation == {"num_beams": 1}
    assert row.created_at is not None


def test_same_request_gives_one_row(store: Store) -> None:
    first = store.record_summary(**summary_fields())
    second = store.record_summary(**summary_fields(text="a different text"))
    assert first == second
    assert store.get_summary(first).text == "Alice and Bob agree to ship on Friday."  # type: ignore[union-attr]


def test_one_live_vote_per_voter_and_a_change_of_mind_replaces_it(store: Store) -> None:
    summary_id = store.record_summary(**summary_fields())
    store.record_vote(summary_id, "U1", 1, source="button")
    store.record_vote(summary_id, "U1", -1, source="reaction")
    store.record_vote(summary_id, "U2", 1)
    votes = sorted((vote.rating, vote.source) for vote in store.votes(summary_id))
    assert votes == [(-1, "reaction"), (1, "button")]
    assert all("U1" not in vote.voter_hash for vote in store.votes(summary_id))
    store.withdraw_vote(summary_id, "U1", 1)  # a stale 👍 removal leaves the 👎 in place
    assert len(store.votes(summary_id)) == 2
    store.record_vote(summary_id, "U1", None)
    assert [vote.rating for vote in store.votes(summary_id)] == [1]


def test_invalid_rating_is_refused(store: Store) -> None:
    summary_id = store.record_summary(**summary_fields())
    with pytest.raises(ValueError, match="rating must be 1, -1 or None"):
        store.record_vote(summary_id, "U1", 5)


def test_message_reference_finds_the_summary(store: Store) -> None:
    summary_id = store.record_summary(**summary_fields())
    store.mark_delivered(summary_id, "C1:1700000000.0001")
    found = store.find_summary_by_message("slack", "C1:1700000000.0001")
    assert found is not None and found.id == summary_id and found.delivered_at is not None


def test_purge_removes_rows_older_than_retention(store: Store) -> None:
    old = store.record_summary(**summary_fields("old", created_at=datetime.now(UTC) - timedelta(days=40)))
    new = store.record_summary(**summary_fields("new"))
    store.record_vote(old, "U1", 1)
    assert store.purge() == 1
    assert store.get_summary(old) is None
    assert store.get_summary(new) is not None
    with store.session() as session:
        assert session.query(Summary).count() == 1


def test_dialogue_text_is_kept_only_for_opted_in_workspaces(store: Store) -> None:
    summary_id = store.record_summary(**summary_fields())
    assert store.keep_dialogue(summary_id, "slack", "T1", "#Person1#: hi") is False
    store.record_vote(summary_id, "U1", 1)
    assert store.shared_examples() == []
    store.set_sharing("slack", "T1", True)
    assert store.keep_dialogue(summary_id, "slack", "T1", "#Person1#: hi", summary="#Person1# says hi.") is True
    [example] = store.shared_examples()
    # Training pairs keep the speaker tags on both sides: no display names leave the store.
    assert (example.dialogue, example.summary) == ("#Person1#: hi", "#Person1# says hi.")
    store.record_vote(summary_id, "U2", -1)
    store.record_vote(summary_id, "U3", -1)
    assert store.shared_examples() == []  # more 👎 than 👍: not a good training example
    assert [example.summary_id for example in store.shared_examples(rating=-1)] == [summary_id]
    store.record_vote(summary_id, "U3", None)
    store.record_vote(summary_id, "U4", 1)
    assert len(store.shared_examples()) == 1
    store.set_sharing("slack", "T1", False)
    assert store.shared_examples() == []
