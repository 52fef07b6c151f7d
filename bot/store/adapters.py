"""The adapter registry's tables (bot.adapters manages them): adapters, their events and assignments,
A/B experiments and the adapter (and arm) of each routed request. Created by migration 0003."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.adapters.gate import GateResult
from bot.store.models import Base, utcnow


class AdapterRecord(Base):
    __tablename__ = "adapters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    source: Mapped[str] = mapped_column(String(1000))  # folder or hub id
    base_model: Mapped[str] = mapped_column(String(255), index=True)
    prompt_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prompt_template: Mapped[str | None] = mapped_column(Text, nullable=True)
    generation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    gate: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="candidate")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def gate_result(self) -> GateResult | None:
        return GateResult.from_dict(self.gate) if self.gate else None


class AdapterEvent(Base):
    """The operators' record of registry changes: who replaced what, and a forced promotion's reason."""

    __tablename__ = "adapter_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    adapter_name: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32))  # add | promote | force-promote | retire
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AdapterAssignment(Base):
    """Which adapter serves a scope: ("", "", "") is the default, (platform, workspace, "") a workspace."""

    __tablename__ = "adapter_assignments"
    __table_args__ = (UniqueConstraint("platform", "workspace", "channel", name="one_adapter_per_scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16), default="")
    workspace: Mapped[str] = mapped_column(String(64), default="")
    channel: Mapped[str] = mapped_column(String(64), default="")
    adapter_name: Mapped[str] = mapped_column(String(64), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Experiment(Base):
    __tablename__ = "adapter_experiments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    control: Mapped[str] = mapped_column(String(64))
    candidate: Mapped[str] = mapped_column(String(64))
    share: Mapped[float] = mapped_column(Float)  # of the control's requests sent to the candidate, 0..1
    salt: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(16), default="")  # "" = every platform
    workspace: Mapped[str] = mapped_column(String(64), default="")  # "" = every workspace
    auto_stop: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(16), default="running")  # running | stopped
    stop_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RequestArm(Base):
    """The adapter (and experiment arm) of one request; `served_by` is what the worker actually ran."""

    __tablename__ = "adapter_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    adapter_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    experiment: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    arm: Mapped[str | None] = mapped_column(String(16), nullable=True)  # control | candidate
    served_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
