"""API shapes of alerts (pydantic), apart from the ORM models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AlertOut(BaseModel):
    """An alert as listed: priority, state, why, and who has it."""

    id: int
    patient_id: str
    rule: str
    kind: str
    category: str
    priority: str
    state: str
    condition: str
    title: str
    chain: str
    tier: int
    target_roles: list[str]
    opened_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    accepted_at: datetime | None
    accepted_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    outcome: str | None
    paused_until: datetime | None
    pause_reason: str | None
    paused_by: str | None
    merged_into: int | None
    explanation: dict[str, Any]


class AlertEventOut(BaseModel):
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


class AlertDetailOut(AlertOut):
    """An alert with its full history."""

    history: list[AlertEventOut]


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=1000)


class PauseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(max_length=1000)
    duration_s: float = Field(gt=0)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: str
    note: str = Field(default="", max_length=4000)


class RuleStatsOut(BaseModel):
    """Quality of one rule over a period: how many, how often accepted, how fast, outcomes."""

    rule: str
    count: int
    accepted: int
    acceptance_rate: float | None
    median_time_to_accept_s: float | None
    outcomes: dict[str, int]
    false_alarms: int


class ReplayIn(BaseModel):
    """A proposed policy (as in ``telemed alerts replay --policy FILE``) and the period."""

    model_config = ConfigDict(extra="forbid")
    policy: dict[str, Any]
    since: datetime
    until: datetime
    name: str = "proposed"
