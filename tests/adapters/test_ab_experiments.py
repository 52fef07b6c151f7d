"""A/B experiments: hashed arms, the live readout from real votes, the auto-stop rule, privacy of arms."""

from __future__ import annotations

import logging
import math
import re

import pytest
from adapter_helpers import make_job

from bot.adapters.experiments import Experiments
from bot.adapters.gate import GateResult
from bot.adapters.registry import AdapterRegistryError, Registry
from bot.adapters.routing import route_job, route_request
from bot.store import Store
from config.settings import load_settings
from training.abtest import ab_report_lines, ab_section, auto_stop, newcombe, readout, wilson


@pytest.fixture
def store(sqlite_url: str) -> Store:
    store = Store(sqlite_url)
    registry = Registry(store)
    registry.add("control-a", "/adapters/a", "tiny-t5", gate=GateResult("rougeL", 0.40))
    registry.add("candidate-b", "/adapters/b", "tiny-t5",
                 gate=GateResult("rougeL", 0.41, baseline="control-a", difference=0.01, low=0.002, high=0.018))
    registry.promote("control-a")
    return store


def test_half_the_requesters_go_to_the_candidate_and_each_always_to_the_same_arm(store: Store) -> None:
    Experiments(store).start("ab-1", "candidate-b", 0.5)
    routes = [route_request(store, "slack", "T1", "C1", f"U{i}") for i in range(1000)]
    to_candidate = sum(route.arm == "candidate" for route in routes)
    assert 450 <= to_candidate <= 550  # 1,000 fair coin flips: 500 ± 3.2 standard deviations
    assert all(route.adapter == ("candidate-b" if route.arm == "candidate" else "control-a") for route in routes)
    elsewhere = [route_request(store, "slack", "T7", "C9", f"U{i}") for i in range(0, 1000, 25)]
    assert [route.arm for route in elsewhere] == [routes[i].arm for i in range(0, 1000, 25)]


def test_a_second_experiment_in_the_same_scope_is_refused(store: Store) -> None:
    Experiments(store).start("ab-1", "candidate-b", 0.5)
    with pytest.raises(AdapterRegistryError, match="already runs"):
        Experiments(store).start("ab-2", "candidate-b", 0.2)


def record_arm_traffic(store: Store, votes: dict[str, list[int]]) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Route requesters until each arm has one summary per vote plus one without a vote; store and vote.

    Returns the stored request ids per arm, and how many requests each arm was routed (stored or not).
    """
    requests: dict[str, list[str]] = {"control": [], "candidate": []}
    routed = {"control": 0, "candidate": 0}
    index = 0
    while any(len(requests[arm]) < len(votes[arm]) + 1 for arm in requests):
        job = route_job(make_job(index, "#Person1#: Hi.", requester=f"U{index}"), store)
        arm = Experiments(store).route_of(job.request_id).arm  # type: ignore[union-attr]
        routed[arm] += 1
        if len(requests[arm]) < len(votes[arm]) + 1:
            position = len(requests[arm])
            summary_id = store.record_summary(
                request_id=job.request_id, platform="slack", workspace="T1", channel="C1", requester=job.requester,
                model="tiny-t5", adapter=job.adapter, prompt_version="summarize-v1@x", text="Summary.",
                latency_ms=(100 if arm == "control" else 200) + position * 10,
            )
            if position < len(votes[arm]):
                store.record_vote(summary_id, f"voter-{index}", votes[arm][position])
            requests[arm].append(job.request_id)
        index += 1
    return requests, routed


VOTES = {"control": [1] * 8 + [-1] * 2, "candidate": [1] * 3 + [-1] * 7}
# Wilson 95 % by hand, (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n), z = 1.95996:
# 8 of 10: (0.8 + 0.19207 ± 0.31361) / 1.38415 = [0.4902, 0.9433]; 3 of 10: [0.1078, 0.6032] (Newcombe 1998).
HAND = {"control": (0.4902, 0.9433), "candidate": (0.1078, 0.6032)}


def test_the_readout_gives_each_arms_rate_and_wilson_interval(store: Store) -> None:
    Experiments(store).start("ab-1", "candidate-b", 0.5)
    _, routed = record_arm_traffic(store, VOTES)
    result = readout(store, Experiments(store).get("ab-1"))  # type: ignore[arg-type]

    for stats, arm in ((result.control, "control"), (result.candidate, "candidate")):
        assert (stats.requests, stats.votes, stats.up) == (routed[arm], 10, VOTES[arm].count(1))
        assert stats.interval.low == pytest.approx(HAND[arm][0], abs=1e-4)
        assert stats.interval.high == pytest.approx(HAND[arm][1], abs=1e-4)
    assert (result.control.rate, result.candidate.rate) == (0.8, 0.3)
    low = -0.5 - math.sqrt((0.3 - 0.1078) ** 2 + (0.9433 - 0.8) ** 2)  # Newcombe's method 10, by hand
    high = -0.5 + math.sqrt((0.6032 - 0.3) ** 2 + (0.8 - 0.4902) ** 2)
    assert result.difference == pytest.approx(-0.5)
    assert (result.interval.low, result.interval.high) == (pytest.approx(low, abs=2e-4), pytest.approx(high, abs=2e-4))
    assert result.significant
    assert (result.control.latency_p50_ms, result.candidate.latency_p50_ms) == (150, 250)

    text = "\n".join(ab_report_lines(store, load_settings()))
    assert f"control   control-a: {routed['control']} requests, 10 votes, 👍 80.0 % [49.0, 94.3]" in text
    assert f"candidate candidate-b: {routed['candidate']} requests, 10 votes, 👍 30.0 % [10.8, 60.3]" in text
    assert "-50.0 points [-74.0, -6.6]: significant at 95 %" in text
    assert "offline gate rougeL 0.4100, +0.0100 [+0.0020, +0.0180] vs control-a" in text
    assert re.search(r"\bU\d+\b", text) is None and "voter" not in text  # aggregates only: nobody's arm

    section = ab_section(store, load_settings())
    table, verdict = section.blocks
    assert [row[:6] for row in table.rows] == [
        ["ab-1", "control", "control-a", str(routed["control"]), "10", "80.0 %"],
        ["ab-1", "candidate", "candidate-b", str(routed["candidate"]), "10", "30.0 %"],
    ]
    assert verdict == "ab-1: difference (candidate - control): -50.0 points [-74.0, -6.6]: significant at 95 %"


def test_an_experiment_stops_itself_when_an_arm_is_worse_beyond_its_interval(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    Experiments(store).start("ab-1", "candidate-b", 0.5)
    requests, _ = record_arm_traffic(store, VOTES)
    assert auto_stop(store, load_settings(ab_min_votes=11)) == []  # not enough votes yet
    with caplog.at_level(logging.WARNING, logger="recap.abtest"):
        assert auto_stop(store, load_settings(ab_min_votes=10)) == ["ab-1"]
    assert "experiment ab-1 auto-stopped: candidate candidate-b 👍 30.0 % is below control control-a" in caplog.text
    assert Experiments(store).get("ab-1").state == "stopped"  # type: ignore[union-attr]
    assert {route_request(store, "slack", "T1", "C1", f"U{i}").adapter for i in range(50)} == {"control-a"}
    retried = route_job(make_job(0, "#Person1#: Hi.", requester="U0"), store)  # a retry keeps its first route
    first = Experiments(store).route_of(retried.request_id)
    assert retried.adapter == first.adapter_name and first.request_id in sum(requests.values(), [])  # type: ignore[union-attr]


def test_wilson_and_newcombe_edge_cases() -> None:
    assert (wilson(0, 0).low, wilson(0, 0).high) == (0.0, 1.0)
    assert wilson(10, 10).high == 1.0 and wilson(0, 10).low == 0.0
    difference, interval = newcombe(5, 10, 5, 10)
    assert difference == 0 and interval.low < 0 < interval.high


def test_routes_are_purged_with_the_retention_period(store: Store) -> None:
    from datetime import timedelta

    from bot.store.models import utcnow

    Experiments(store).start("ab-1", "candidate-b", 0.5)
    job = route_job(make_job(0, "#Person1#: Hi."), store)
    assert Experiments(store).purge() == 0
    assert Experiments(store).purge(now=utcnow() + timedelta(days=store.retention_days + 1)) == 1
    assert Experiments(store).route_of(job.request_id) is None
