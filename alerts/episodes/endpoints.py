"""REST: ``GET /api/alerts``, ``GET /api/alerts/{id}``, ``POST /api/alerts/{id}/accept|reject|
pause|resolve``, ``GET /api/alerts/pauses``.

The router needs two dependencies from the app that composes it (``build_router``): the
request's session and the signed-in principal. Changes are published on the ``alerts`` topic
after the request's transaction commits, so every screen on every API process sees them.
"""

# No ``from __future__ import annotations`` here: FastAPI resolves the routes' annotations at
# run time, and the dependency aliases are local to build_router.
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from alerts.episodes import actions
from alerts.episodes import repository as repo
from alerts.episodes.models import AlertEpisode
from alerts.episodes.schemas import (
    AlertDetailOut,
    AlertEventOut,
    AlertOut,
    PauseIn,
    RejectIn,
    ReplayIn,
    ResolveIn,
    RuleStatsOut,
)
from alerts.episodes.views import TOPIC_ALERTS, alert_json
from alerts.replay import service as replay_service
from alerts.replay.engine import policy_from_json
from patient_hub.access import Principal
from patient_hub.accounts.models import Role
from patient_hub.runtime import HubContext
from telemed_core.errors import Forbidden


def _supervisor(who: Principal) -> None:
    if who.role is not Role.ADMIN:
        raise Forbidden("alert statistics and policy replay are for supervisors (admin)")


def _out(ep: AlertEpisode) -> AlertOut:
    return AlertOut.model_validate(alert_json(ep))


def build_router(
    session_dep: Callable[..., Any],
    principal_dep: Callable[..., Awaitable[Principal]],
) -> APIRouter:
    router = APIRouter(prefix="/api/alerts", tags=["alerts"])
    SessionT = Annotated[AsyncSession, Depends(session_dep, scope="function")]
    Who = Annotated[Principal, Depends(principal_dep)]

    def hub_of(request: Request) -> HubContext:
        hub: HubContext = request.app.state.hub
        return hub

    async def publish(hub: HubContext, ep: dict[str, Any]) -> None:
        await hub.bus.publish(TOPIC_ALERTS, {"alerts": [ep]})

    def after_commit(request: Request, tasks: BackgroundTasks, ep: AlertEpisode) -> None:
        # Background tasks run after the response, i.e. after the request's commit.
        tasks.add_task(publish, hub_of(request), alert_json(ep))

    @router.get("", response_model=list[AlertOut])
    async def list_alerts(
        session: SessionT,
        who: Who,
        patient: str | None = None,
        state: str | None = None,
        priority: str | None = None,
        kind: str | None = None,
        category: str | None = None,
        open_only: Annotated[bool, Query(alias="open")] = False,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> list[AlertOut]:
        """Alerts of the patients the user may see, newest first."""
        visible = await actions.alert_subjects(session, who)
        found = await repo.search(
            session,
            repo.AlertFilter(visible, patient, state, priority, kind, category, open_only, limit),
        )
        if who.role is Role.CARDIOLOGIST:  # operators' alarms are not theirs
            found = [ep for ep in found if ep.category == "clinical"]
        return [_out(ep) for ep in found]

    @router.get("/pauses", response_model=list[AlertOut])
    async def list_pauses(request: Request, session: SessionT, who: Who) -> list[AlertOut]:
        """Alerts whose escalation is paused now, soonest expiry first."""
        visible = await actions.alert_subjects(session, who)
        found = await repo.active_pauses(session, visible, hub_of(request).clock())
        if who.role is Role.CARDIOLOGIST:
            found = [ep for ep in found if ep.category == "clinical"]
        return [_out(ep) for ep in found]

    @router.get("/stats", response_model=list[RuleStatsOut])
    async def stats(
        session: SessionT, who: Who, since: datetime, until: datetime
    ) -> list[RuleStatsOut]:
        """Per-rule quality over a period: count, acceptance rate, median time to accept,
        outcomes and false alarms (supervisors)."""
        _supervisor(who)
        return [
            RuleStatsOut(**row) for row in await replay_service.rule_stats(session, since, until)
        ]

    @router.post("/replay")
    async def replay(body: ReplayIn, session: SessionT, who: Who) -> dict[str, Any]:
        """How many alerts a proposed policy would have raised over a stored period, against
        today's policy, before switching it on (supervisors)."""
        _supervisor(who)
        proposed = policy_from_json(body.policy, body.name)
        return await replay_service.replay_period(session, proposed, body.since, body.until)

    @router.get("/{alert_id}", response_model=AlertDetailOut)
    async def get_alert(alert_id: int, session: SessionT, who: Who) -> AlertDetailOut:
        """One alert with its explanation and full history."""
        ep = await actions.visible_alert(session, who, alert_id)
        history = [
            AlertEventOut(at=e.at, actor=e.actor, action=e.action, detail=e.detail)
            for e in await repo.events_of(session, alert_id)
        ]
        return AlertDetailOut.model_validate({**alert_json(ep), "history": history})

    @router.post("/{alert_id}/accept", response_model=AlertOut)
    async def accept(
        alert_id: int, request: Request, tasks: BackgroundTasks, session: SessionT, who: Who
    ) -> AlertOut:
        ep, changed = await actions.accept(session, who, alert_id, hub_of(request).clock())
        if changed:
            after_commit(request, tasks, ep)
        return _out(ep)

    @router.post("/{alert_id}/reject", response_model=AlertOut)
    async def reject(
        alert_id: int,
        body: RejectIn,
        request: Request,
        tasks: BackgroundTasks,
        session: SessionT,
        who: Who,
    ) -> AlertOut:
        now = hub_of(request).clock()
        ep = await actions.reject(session, who, alert_id, now, body.reason)
        after_commit(request, tasks, ep)
        return _out(ep)

    @router.post("/{alert_id}/pause", response_model=AlertOut)
    async def pause(
        alert_id: int,
        body: PauseIn,
        request: Request,
        tasks: BackgroundTasks,
        session: SessionT,
        who: Who,
    ) -> AlertOut:
        now = hub_of(request).clock()
        ep = await actions.pause(session, who, alert_id, now, body.reason, body.duration_s)
        after_commit(request, tasks, ep)
        return _out(ep)

    @router.post("/{alert_id}/resolve", response_model=AlertOut)
    async def resolve(
        alert_id: int,
        body: ResolveIn,
        request: Request,
        tasks: BackgroundTasks,
        session: SessionT,
        who: Who,
    ) -> AlertOut:
        now = hub_of(request).clock()
        ep = await actions.resolve(session, who, alert_id, now, body.outcome, body.note)
        after_commit(request, tasks, ep)
        return _out(ep)

    return router
