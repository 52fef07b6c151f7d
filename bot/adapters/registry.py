"""The adapter registry: which LoRA adapters exist, their offline gate result, and what serves where.

An adapter is `candidate` when registered, `serving` while it is the default or assigned to a workspace
or channel, and `retired` when it must never be routed again. Promotion is gated: the adapter's offline
gate result (from `recap eval gate`) must exist and be no worse than the one it replaces, unless an
operator forces it with a reason, which is kept in `adapter_events`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bot.adapters.gate import GateResult, gate_problem
from bot.store.adapters import AdapterAssignment, AdapterEvent, AdapterRecord
from bot.store.models import utcnow

STATES = ("candidate", "serving", "retired")
DEFAULT_SCOPE = ("", "", "")  # (platform, workspace, channel) of the default assignment
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")


class AdapterRegistryError(ValueError):
    """A registry request cannot be done; the message says why and what to do, for a person."""


REGISTRY_TABLES = [AdapterRecord.__table__, AdapterEvent.__table__, AdapterAssignment.__table__]


@dataclass(frozen=True)
class Scope:
    platform: str = ""
    workspace: str = ""
    channel: str = ""

    def __post_init__(self) -> None:
        if (self.channel and not self.workspace) or (self.workspace and not self.platform):
            raise AdapterRegistryError("a channel needs its workspace, and a workspace its platform")

    def describe(self) -> str:
        if not self.platform:
            return "the default"
        return f"{self.platform} workspace {self.workspace}" + (f" channel {self.channel}" if self.channel else "")


def check_name(name: str) -> str:
    if not name or len(name) > 64 or not set(name) <= NAME_CHARS or name == "default":
        raise AdapterRegistryError(
            f"adapter name {name!r}: use 1-64 lowercase letters, digits, '-', '_' or '.' (and not 'default')"
        )
    return name


class Registry:
    """CRUD over the registry tables, on the store's engine (SQLite or PostgreSQL)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    # -- adapters ------------------------------------------------------------------------------
    def add(self, name: str, source: str, base_model: str, *, prompt: tuple[str, str] | None = None,
            generation: dict[str, Any] | None = None, gate: GateResult | None = None) -> AdapterRecord:
        check_name(name)
        with self.store.session() as session:
            if session.scalar(select(AdapterRecord).where(AdapterRecord.name == name)) is not None:
                raise AdapterRegistryError(f"an adapter named {name!r} is already registered")
            record = AdapterRecord(
                name=name, source=source, base_model=base_model, prompt_name=prompt[0] if prompt else None,
                prompt_template=prompt[1] if prompt else None, generation=dict(generation or {}),
                gate=gate.as_dict() if gate else None, state="candidate",
            )
            session.add(record)
            session.add(AdapterEvent(adapter_name=name, action="add", detail={"source": source, "gated": bool(gate)}))
            return record

    def get(self, name: str) -> AdapterRecord | None:
        with self.store.session() as session:
            return session.scalar(select(AdapterRecord).where(AdapterRecord.name == name))

    def require(self, name: str) -> AdapterRecord:
        record = self.get(name)
        if record is None:
            raise AdapterRegistryError(f"no adapter named {name!r} is registered (see `recap adapters list`)")
        return record

    def all(self, base_model: str | None = None, *, include_retired: bool = True) -> list[AdapterRecord]:
        query = select(AdapterRecord).order_by(AdapterRecord.name)
        if base_model is not None:
            query = query.where(AdapterRecord.base_model == base_model)
        if not include_retired:
            query = query.where(AdapterRecord.state != "retired")
        with self.store.session() as session:
            return list(session.scalars(query))

    def events(self, name: str | None = None) -> list[AdapterEvent]:
        query = select(AdapterEvent).order_by(AdapterEvent.id)
        if name is not None:
            query = query.where(AdapterEvent.adapter_name == name)
        with self.store.session() as session:
            return list(session.scalars(query))

    # -- assignments ---------------------------------------------------------------------------
    def assignments(self, name: str | None = None) -> list[AdapterAssignment]:
        query = select(AdapterAssignment).order_by(AdapterAssignment.platform, AdapterAssignment.workspace,
                                                   AdapterAssignment.channel)
        if name is not None:
            query = query.where(AdapterAssignment.adapter_name == name)
        with self.store.session() as session:
            return list(session.scalars(query))

    def assigned(self, scope: Scope) -> str | None:
        """The adapter assigned to exactly this scope, or None."""
        with self.store.session() as session:
            return session.scalar(select(AdapterAssignment.adapter_name).where(
                AdapterAssignment.platform == scope.platform, AdapterAssignment.workspace == scope.workspace,
                AdapterAssignment.channel == scope.channel))

    def default_name(self) -> str | None:
        return self.assigned(Scope())

    def resolve(self, platform: str, workspace: str, channel: str) -> str | None:
        """The channel's assignment, else the workspace's, else the default (None when nothing is assigned)."""
        scopes = [Scope()]
        if platform and workspace:
            scopes.insert(0, Scope(platform, workspace))
            if channel:
                scopes.insert(0, Scope(platform, workspace, channel))
        for scope in scopes:
            name = self.assigned(scope)
            if name is not None:
                return name
        return None

    def serving_for(self, scope: Scope) -> str | None:
        """What serves ``scope`` now: its own assignment, else the wider ones down to the default."""
        return self.resolve(scope.platform, scope.workspace, scope.channel)

    # -- promote and retire --------------------------------------------------------------------
    def promote(self, name: str, scope: Scope = Scope(), *, force: bool = False, reason: str | None = None) -> str:
        """Make ``name`` serve ``scope``; returns a sentence for the operator. Gated unless forced with a reason."""
        record = self.require(name)
        if record.state == "retired":
            raise AdapterRegistryError(f"{name!r} is retired; register it again under a new name to serve it")
        if force and not (reason and reason.strip()):
            raise AdapterRegistryError("--force needs --reason \"...\": the reason is kept in the registry's log")
        current_name = self.serving_for(scope)
        current = self.get(current_name) if current_name and current_name != name else None
        if current is not None and current.base_model != record.base_model:
            raise AdapterRegistryError(
                f"{name!r} is for base model {record.base_model}, but {scope.describe()} serves "
                f"{current.name!r} on {current.base_model}; workers serve one base model")
        problem = gate_problem(name, record.gate_result, current.name if current else None,
                               current.gate_result if current else None)
        if problem and not force:
            raise AdapterRegistryError(f"{problem}. To promote anyway: --force --reason \"...\"")
        self._assign(name, scope, current_name)
        action = "force-promote" if problem else "promote"
        self._log(name, action, reason, {"scope": scope.describe(), "replaced": current_name, "problem": problem})
        return f"{name} now serves {scope.describe()}" + (f" (replacing {current_name})" if current_name else "")

    def _assign(self, name: str, scope: Scope, replaced: str | None) -> None:
        with self.store.session() as session:
            row = session.scalar(select(AdapterAssignment).where(
                AdapterAssignment.platform == scope.platform, AdapterAssignment.workspace == scope.workspace,
                AdapterAssignment.channel == scope.channel))
            previous = row.adapter_name if row is not None else None
            if row is None:
                session.add(AdapterAssignment(platform=scope.platform, workspace=scope.workspace,
                                              channel=scope.channel, adapter_name=name))
            else:
                row.adapter_name, row.updated_at = name, utcnow()
        self._set_state(name, "serving")
        if previous and previous != name:
            self._demote_if_idle(previous)

    def _demote_if_idle(self, name: str) -> None:
        record = self.get(name)
        if record is not None and record.state == "serving" and not self.assignments(name):
            self._set_state(name, "candidate")

    def retire(self, name: str, *, force: bool = False, reason: str | None = None) -> str:
        record = self.require(name)
        if self.default_name() == name and not force:
            raise AdapterRegistryError(
                f"{name!r} is the default adapter; promote another one first (or --force --reason \"...\")")
        if force and not (reason and reason.strip()):
            raise AdapterRegistryError("--force needs --reason \"...\": the reason is kept in the registry's log")
        scopes = self._unassign_all(name)
        self._set_state(name, "retired")
        self._log(name, "retire", reason, {"was": record.state, "scopes": scopes})
        return f"{name} retired" + (f"; it no longer serves {', '.join(scopes)}" if scopes else "")

    def _unassign_all(self, name: str) -> list[str]:
        with self.store.session() as session:
            rows = list(session.scalars(select(AdapterAssignment).where(AdapterAssignment.adapter_name == name)))
            described = [Scope(r.platform, r.workspace, r.channel).describe() for r in rows]
            for row in rows:
                session.delete(row)
        return described

    def _set_state(self, name: str, state: str) -> None:
        assert state in STATES
        with self.store.session() as session:
            record = session.scalar(select(AdapterRecord).where(AdapterRecord.name == name))
            if record is not None:
                record.state, record.updated_at = state, utcnow()

    def _log(self, name: str, action: str, reason: str | None, detail: dict[str, Any]) -> None:
        with self.store.session() as session:
            session.add(AdapterEvent(adapter_name=name, action=action, reason=reason, detail=detail))
