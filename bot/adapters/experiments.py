"""A/B experiments between a serving adapter (control) and a candidate, and the arm of each request.

A running experiment sends a share of the requests that would go to its control adapter, within its
scope (everything, or one workspace), to the candidate. The arm is picked by hashing the requester with
the experiment's own salt, so one person always sees one arm and arms of two experiments are independent.
Each routed request's adapter and arm are kept in `adapter_requests`, keyed by request_id (the summary
row's key), beside the summary row's own `adapter_name` and `experiment_arm`.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from bot.adapters.gate import gate_problem
from bot.adapters.registry import AdapterRegistryError, Registry, Scope, check_name
from bot.store.adapters import Experiment, RequestArm
from bot.store.models import utcnow

log = logging.getLogger("recap.adapters.experiments")
ARMS = ("control", "candidate")


EXPERIMENT_TABLES = [Experiment.__table__, RequestArm.__table__]


@dataclass(frozen=True)
class ArmChoice:
    experiment: str
    arm: str
    adapter: str


def arm_for(salt: str, requester_key: str, share: float) -> str:
    """``candidate`` for a stable ``share`` of requesters, else ``control`` (sha256 of salt and requester)."""
    digest = hashlib.sha256(f"{salt}:{requester_key}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    return "candidate" if position < share else "control"


class Experiments:
    def __init__(self, store: Any) -> None:
        self.store = store
        self.registry = Registry(store)

    def start(self, name: str, candidate: str, share: float, *, control: str | None = None,
              scope: Scope = Scope(), auto_stop: bool = True) -> Experiment:
        check_name(name)
        if not 0 < share < 1:
            raise AdapterRegistryError(f"--share must be between 0 and 1 (exclusive), got {share}")
        if scope.channel:
            raise AdapterRegistryError("experiments run per workspace or everywhere, not per channel")
        control = control or self.registry.serving_for(scope)
        self._check_arms(name, candidate, control, scope)
        with self.store.session() as session:
            row = Experiment(name=name, control=control, candidate=candidate, share=share,
                             salt=secrets.token_hex(16), platform=scope.platform, workspace=scope.workspace,
                             auto_stop=auto_stop, state="running")
            session.add(row)
        log.info("experiment %s started: %.0f%% of %s traffic in %s to %s", name, share * 100, control,
                 scope.describe(), candidate)
        return row

    def _check_arms(self, name: str, candidate: str, control: str | None, scope: Scope) -> None:
        if self.get(name) is not None:
            raise AdapterRegistryError(f"an experiment named {name!r} already exists")
        if control is None:
            raise AdapterRegistryError(f"nothing serves {scope.describe()} yet: promote an adapter first")
        arms = [self.registry.require(candidate), self.registry.require(control)]
        if any(record.state == "retired" for record in arms) or candidate == control:
            raise AdapterRegistryError("an experiment needs two different adapters that are not retired")
        if arms[0].base_model != arms[1].base_model:
            raise AdapterRegistryError(f"{candidate!r} and {control!r} have different base models")
        problem = gate_problem(candidate, arms[0].gate_result, control, arms[1].gate_result)
        if problem:  # the offline gate stands in front of live traffic too
            raise AdapterRegistryError(f"{problem}; an experiment needs a candidate that passed the gate")
        if any(self._overlaps(other, scope) for other in self.running()):
            raise AdapterRegistryError(f"another experiment already runs in {scope.describe()}; stop it first")

    @staticmethod
    def _overlaps(other: Experiment, scope: Scope) -> bool:
        same_platform = not other.platform or not scope.platform or other.platform == scope.platform
        same_workspace = not other.workspace or not scope.workspace or other.workspace == scope.workspace
        return same_platform and same_workspace

    def stop(self, name: str, reason: str) -> Experiment:
        with self.store.session() as session:
            row = session.scalar(select(Experiment).where(Experiment.name == name))
            if row is None:
                raise AdapterRegistryError(f"no experiment named {name!r}")
            if row.state == "running":
                row.state, row.stop_reason, row.stopped_at = "stopped", reason, utcnow()
            return row

    def get(self, name: str) -> Experiment | None:
        with self.store.session() as session:
            return session.scalar(select(Experiment).where(Experiment.name == name))

    def all(self) -> list[Experiment]:
        with self.store.session() as session:
            return list(session.scalars(select(Experiment).order_by(Experiment.started_at.desc())))

    def running(self) -> list[Experiment]:
        return [row for row in self.all() if row.state == "running"]

    def choose(self, platform: str, workspace: str, requester: str, adapter: str | None) -> ArmChoice | None:
        """The arm of a request that routing sent to ``adapter``, if a running experiment covers it."""
        for row in self.running():
            if row.control != adapter or row.platform not in ("", platform) or row.workspace not in ("", workspace):
                continue
            arm = arm_for(row.salt, f"{platform}:{requester}", row.share)
            return ArmChoice(row.name, arm, row.candidate if arm == "candidate" else row.control)
        return None

    # -- the arm of each request ---------------------------------------------------------------
    def record_request(self, request_id: str, adapter: str | None, choice: ArmChoice | None) -> None:
        """Idempotent on request_id: a retried request keeps its first route."""
        with self.store.session() as session:
            if session.scalar(select(RequestArm.id).where(RequestArm.request_id == request_id)) is None:
                session.add(RequestArm(request_id=request_id, adapter_name=adapter,
                                       experiment=choice.experiment if choice else None,
                                       arm=choice.arm if choice else None))

    def route_of(self, request_id: str) -> RequestArm | None:
        with self.store.session() as session:
            return session.scalar(select(RequestArm).where(RequestArm.request_id == request_id))

    def mark_served(self, request_id: str, served_by: str) -> None:
        with self.store.session() as session:
            row = session.scalar(select(RequestArm).where(RequestArm.request_id == request_id))
            if row is None:
                session.add(RequestArm(request_id=request_id, adapter_name=None, served_by=served_by))
            else:
                row.served_by = served_by

    def purge(self, now: datetime | None = None) -> int:
        """Forget routes older than the store's retention period (call it beside `Store.purge`)."""
        cutoff = (now or utcnow()) - timedelta(days=self.store.retention_days)
        with self.store.session() as session:
            result = session.execute(delete(RequestArm).where(RequestArm.created_at < cutoff))
            return int(result.rowcount or 0)
