"""REST: ``GET /api/alerts``, ``GET /api/alerts/{id}``, ``POST /api/alerts/{id}/accept|reject|
pause|resolve``, ``GET /api/alerts/pauses``.

The router needs two dependencies from the app that composes it (``build_router``): the
request's session and the signed-in principal. Changes are published on the ``alerts`` topic
after the request's transaction commits, so every screen on every API process sees them.
"""

# No ``from __future__ import annotations`` here: FastAPI resolves the routes' annotations at
# run time, and the dependency aliases are local to build_router.
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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

    @dataclass
    class Acting:
        """Who acts on an alert, in which transaction, at what time; ``done`` publishes the
        changed alert after the commit and answers it."""

        request: Request
        tasks: BackgroundTasks
        session: AsyncSession
        who: Principal

        @property
        def now(self) -> datetime:
            return hub_of(self.request).clock()

        def done(self, ep: AlertEpisode, changed: bool = True) -> AlertOut:
            if changed:
                after_commit(self.request, self.tasks, ep)
            return _out(ep)

    async def acting(
        request: Request, tasks: BackgroundTasks, session: SessionT, who: Who
    ) -> Acting:
        return Acting(request, tasks, session, who)

    Act = Annotated[Acting, Depends(acting)]

    @router.post("/{alert_id}/accept", response_model=AlertOut)
    async def accept(alert_id: int, act: Act) -> AlertOut:
        """Take responsibility for the alert (accepting twice is a no-op)."""
        return act.done(*await actions.accept(act.session, act.who, alert_id, act.now))

    @router.post("/{alert_id}/reject", response_model=AlertOut)
    async def reject(alert_id: int, body: RejectIn, act: Act) -> AlertOut:
        """Decline it: the alert passes to the next tier at once."""
        return act.done(await actions.reject(act.session, act.who, alert_id, act.now, body.reason))

    @router.post("/{alert_id}/pause", response_model=AlertOut)
    async def pause(alert_id: int, body: PauseIn, act: Act) -> AlertOut:
        """Pause its escalation, with a reason, for at most the chain's maximum."""
        ep = await actions.pause(
            act.session, act.who, alert_id, act.now, body.reason, body.duration_s
        )
        return act.done(ep)

    @router.post("/{alert_id}/resolve", response_model=AlertOut)
    async def resolve(alert_id: int, body: ResolveIn, act: Act) -> AlertOut:
        """Close it with what was done about it."""
        ep = await actions.resolve(act.session, act.who, alert_id, act.now, body.outcome, body.note)
        return act.done(ep)

    return router
