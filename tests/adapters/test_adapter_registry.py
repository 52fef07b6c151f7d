"""The registry: gated promotion, forced promotion with a kept reason, retire, routing order, payload v2."""

from __future__ import annotations

import pytest

from bot.adapters.gate import GateResult, parse_gate
from bot.adapters.registry import AdapterRegistryError, Registry, Scope
from bot.adapters.routing import route_request
from bot.queue import PayloadError, SummaryJob
from bot.store import Store


@pytest.fixture
def registry(sqlite_url: str) -> Registry:
    registry = Registry(Store(sqlite_url))
    registry.add("serving", "/adapters/serving", "tiny-t5", gate=GateResult("rougeL", 0.40))
    registry.promote("serving")
    return registry


def test_promote_refuses_an_adapter_without_a_gate_result(registry: Registry) -> None:
    registry.add("ungated", "/adapters/ungated", "tiny-t5")
    with pytest.raises(AdapterRegistryError, match="no offline gate result"):
        registry.promote("ungated")
    assert registry.default_name() == "serving" and registry.get("ungated").state == "candidate"  # type: ignore[union-attr]


def test_promote_refuses_an_adapter_whose_gate_result_is_worse(registry: Registry) -> None:
    registry.add("lower-score", "/adapters/low", "tiny-t5", gate=GateResult("rougeL", 0.39))
    registry.add("lost-the-gate", "/adapters/lost", "tiny-t5",
                 gate=GateResult("rougeL", 0.45, baseline="serving", difference=-0.01, low=-0.02, high=0.0))
    with pytest.raises(AdapterRegistryError, match=r"worse than 'serving' offline \(rougeL 0.3900 < 0.4000\)"):
        registry.promote("lower-score")
    with pytest.raises(AdapterRegistryError, match="worse than 'serving' in its gate"):
        registry.promote("lost-the-gate")
    assert registry.default_name() == "serving"


def test_promote_accepts_a_better_gate_and_a_forced_one_keeps_its_reason(registry: Registry) -> None:
    registry.add("better", "/adapters/better", "tiny-t5", gate=GateResult("rougeL", 0.42))
    assert registry.promote("better") == "better now serves the default (replacing serving)"
    assert registry.get("serving").state == "candidate"  # type: ignore[union-attr]
    registry.add("ungated", "/adapters/ungated", "tiny-t5")
    with pytest.raises(AdapterRegistryError, match="--force needs --reason"):
        registry.promote("ungated", Scope("slack", "T9"), force=True)
    registry.promote("ungated", Scope("slack", "T9"), force=True, reason="legal asked for this team's wording")
    forced = [e for e in registry.events("ungated") if e.action == "force-promote"]
    assert len(forced) == 1 and forced[0].reason == "legal asked for this team's wording"
    assert "no offline gate result" in forced[0].detail["problem"]
    assert registry.get("ungated").state == "serving"  # type: ignore[union-attr]


def test_routing_prefers_the_channel_then_the_workspace_then_the_default(registry: Registry) -> None:
    for name, score in (("team", 0.41), ("channel", 0.42)):
        registry.add(name, f"/adapters/{name}", "tiny-t5", gate=GateResult("rougeL", score))
    registry.promote("team", Scope("slack", "T1"))
    registry.promote("channel", Scope("slack", "T1", "C7"))
    store = registry.store
    assert route_request(store, "slack", "T1", "C7", "U1").adapter == "channel"
    assert route_request(store, "slack", "T1", "C2", "U1").adapter == "team"
    assert route_request(store, "slack", "T2", "C7", "U1").adapter == "serving"
    assert route_request(store, "discord", "T1", "C7", "U1").adapter == "serving"


def test_retire_removes_every_assignment_and_the_default_needs_force(registry: Registry) -> None:
    registry.add("team", "/adapters/team", "tiny-t5", gate=GateResult("rougeL", 0.41))
    registry.promote("team", Scope("slack", "T1"))
    with pytest.raises(AdapterRegistryError, match="is the default adapter"):
        registry.retire("serving")
    assert "no longer serves slack workspace T1" in registry.retire("team")
    assert registry.get("team").state == "retired"  # type: ignore[union-attr]
    assert route_request(registry.store, "slack", "T1", "C1", "U1").adapter == "serving"
    with pytest.raises(AdapterRegistryError, match="retired"):
        registry.promote("team", force=True, reason="x")


def test_names_and_duplicates_are_refused_with_a_clear_message(registry: Registry) -> None:
    with pytest.raises(AdapterRegistryError, match="already registered"):
        registry.add("serving", "/elsewhere", "tiny-t5")
    with pytest.raises(AdapterRegistryError, match="lowercase letters"):
        registry.add("Team A", "/adapters/x", "tiny-t5")
    registry.add("other-base", "/adapters/o", "flan-t5-large", gate=GateResult("rougeL", 0.5))
    with pytest.raises(AdapterRegistryError, match="workers serve one base model"):
        registry.promote("other-base")


def test_gate_json_from_eval_gate_is_read_in_its_common_shapes() -> None:
    nested = parse_gate({"metric": "rougeL", "candidate_score": 0.41, "baseline": "serving",
                         "difference": {"value": 0.012, "low": 0.004, "high": 0.02}, "n": 500})
    flat = parse_gate({"score": 0.41, "baseline": "serving", "difference": 0.012, "ci_low": 0.004, "ci_high": 0.02})
    assert nested.difference == flat.difference == 0.012 and nested.low == flat.low == 0.004
    assert nested.describe() == "rougeL 0.4100, +0.0120 [+0.0040, +0.0200] vs serving"


def test_payload_version_2_carries_the_adapter_and_version_1_still_reads_as_default() -> None:
    job = SummaryJob(request_id="slack:T1:x", platform="slack", dialogue="#Person1#: Hi.", adapter="team")
    payload = job.to_payload()
    assert payload["version"] == 2 and SummaryJob.from_payload(payload).adapter == "team"
    old = {k: v for k, v in payload.items() if k != "adapter"} | {"version": 1}
    assert SummaryJob.from_payload(old).adapter is None
    with pytest.raises(PayloadError, match="adapter must be"):
        SummaryJob.from_payload(payload | {"adapter": ""})
    with pytest.raises(PayloadError, match="version 3"):
        SummaryJob.from_payload(payload | {"version": 3})


def test_the_registry_tables_work_on_postgresql(postgres_url: str) -> None:
    registry = Registry(Store(postgres_url))
    registry.add("pg-a", "/adapters/a", "tiny-t5", gate=GateResult("rougeL", 0.4))
    registry.promote("pg-a", Scope("slack", "T1", "C1"))
    assert registry.resolve("slack", "T1", "C1") == "pg-a" and registry.resolve("slack", "T1", "C2") is None
