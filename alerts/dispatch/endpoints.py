"""Dispatch REST API and the live socket ``/ws/dispatch``.

(No ``from __future__ import annotations``: FastAPI must see the routes' annotations as
objects, and ``Who`` is local to ``make_router``.)

The app that composes the server passes in how a request and a socket are authenticated
(``make_router``), so this package needs nothing from the composition layer.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, WebSocket, WebSocketDisconnect
from sqlalchemy.ext.asyncio import AsyncSession

from alerts.dispatch import queries, responders, service
from alerts.dispatch.from_patient import create_incident_from_patient
from alerts.dispatch.live import Phone
from alerts.dispatch.notices import Notices
from alerts.dispatch.runtime import DispatchRuntime
from alerts.dispatch.schemas import (
    CloseIn,
    CurrentOut,
    DutyIn,
    IncidentIn,
    IncidentOut,
    OfferOut,
    PositionIn,
    ResponderIn,
    ResponderOut,
    SendRespondersIn,
    StatusIn,
)
from patient_hub.access import Principal
from patient_hub.accounts.models import Role
from telemed_core.errors import Forbidden, TelemedError

HEARTBEAT_S = 15.0
Authenticate = Callable[[str | None], Awaitable[Principal]]


def get_runtime(request: Request) -> DispatchRuntime:
    runtime: DispatchRuntime = request.app.state.dispatch
    return runtime


Runtime = Annotated[DispatchRuntime, Depends(get_runtime)]


def make_router(principal: Callable[..., Any], authenticate_socket: Authenticate) -> APIRouter:
    """The dispatch routes; ``principal`` is the request dependency that yields the signed-in
    Principal, ``authenticate_socket`` turns a socket's token into one."""
    router = APIRouter(tags=["dispatch"])
    Who = Annotated[Principal, Depends(principal)]
    _responder_routes(router, Who)
    _incident_routes(router, Who)
    _answer_routes(router, Who)
    router.add_api_websocket_route("/ws/dispatch", _socket_endpoint(authenticate_socket))
    return router


async def _read(rt: DispatchRuntime, work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    """A read that records views: its own short transaction, queued like any write."""

    async def wrapped(session: AsyncSession) -> tuple[Any, Notices]:
        return await work(session), Notices()

    return await rt.write(wrapped)


def _responder_routes(router: APIRouter, Who: Any) -> None:
    @router.post("/api/responders/me/duty", response_model=ResponderOut)
    async def duty(body: DutyIn, who: Who, rt: Runtime) -> ResponderOut:
        """Go on or off duty (on duty needs a valid vetting)."""
        today = rt.hub.clock().date()
        me = await _read(rt, lambda s: responders.set_duty(s, who, body.on_duty, today))
        return responders.responder_out(me, username=who.username)

    @router.post("/api/responders/me/position", response_model=ResponderOut)
    async def position(body: PositionIn, who: Who, rt: Runtime) -> ResponderOut:
        """The phone's position (browser geolocation); used while fresh."""
        now = rt.hub.clock()
        me = await rt.write(
            lambda s: responders.set_position(s, who, body.latitude, body.longitude, now)
        )
        return responders.responder_out(me, username=who.username)

    @router.get("/api/responders/me/offers", response_model=list[OfferOut])
    async def my_offers(who: Who, rt: Runtime) -> list[OfferOut]:
        """Offers waiting for my answer (distance and direction; the address after accepting)."""
        now = rt.hub.clock()
        current = await _read(rt, lambda s: queries.current_for_responder(s, rt.policy, who, now))
        return list(current.offers)

    @router.get("/api/responders/me", response_model=CurrentOut)
    async def me(who: Who, rt: Runtime) -> CurrentOut:
        """My duty, open offers and the incident I am on (what a reconnecting page shows)."""
        now = rt.hub.clock()
        current: CurrentOut = await _read(
            rt, lambda s: queries.current_for_responder(s, rt.policy, who, now)
        )
        return current

    @router.put("/api/responders/{username}", response_model=ResponderOut)
    async def vet(username: str, body: ResponderIn, who: Who, rt: Runtime) -> ResponderOut:
        """Record or renew a responder's vetting (dispatcher or admin)."""
        service.require_dispatcher(who)
        me = await _read(
            rt,
            lambda s: responders.register(s, username, body.qualification, body.vetted_until),
        )
        return responders.responder_out(me, username=username)


def _incident_routes(router: APIRouter, Who: Any) -> None:
    @router.post("/api/incidents", response_model=IncidentOut, status_code=201)
    async def create(body: IncidentIn, who: Who, rt: Runtime) -> IncidentOut:
        """A dispatcher opens an incident at an address; offers go out at once."""
        service.require_dispatcher(who)
        now = rt.hub.clock()

        async def work(s: AsyncSession) -> tuple[IncidentOut, Notices]:
            inc, notices = await service.create_incident(
                s, rt.policy, who, latitude=body.latitude, longitude=body.longitude,
                address=body.address, summary=body.summary, now=now,
            )  # fmt: skip
            return await queries.dispatcher_view(s, rt.policy, inc), notices

        out: IncidentOut = await rt.write(work)
        return out

    @router.get("/api/incidents", response_model=list[IncidentOut])
    async def incidents(who: Who, rt: Runtime) -> list[IncidentOut]:
        """The dispatcher's list: open incidents and those closed in the last 12 h."""
        now = rt.hub.clock()
        out: list[IncidentOut] = await _read(
            rt, lambda s: queries.incidents_for_dispatcher(s, who, now)
        )
        return out

    @router.get("/api/incidents/{incident_id}", response_model=IncidentOut)
    async def incident(incident_id: str, who: Who, rt: Runtime) -> IncidentOut:
        """The incident as the caller may see it (a responder: only the one they accepted,
        until it closes); every read is recorded."""
        now = rt.hub.clock()
        out: IncidentOut = await _read(
            rt, lambda s: queries.incident_for(s, rt.policy, who, incident_id, now)
        )
        return out

    @router.post("/api/patients/{patient_id}/send-responders", response_model=IncidentOut)
    async def send_responders(
        patient_id: str, body: SendRespondersIn, who: Who, rt: Runtime
    ) -> IncidentOut:
        """The clinician confirms a cardiac arrest: an incident at the patient's home."""
        now = rt.hub.clock()

        async def work(s: AsyncSession) -> tuple[IncidentOut, Notices]:
            inc, notices, _new = await create_incident_from_patient(
                s, rt.policy, patient_id, body.alert_id, who, now, finding_key=body.finding_key
            )
            return await queries.dispatcher_view(s, rt.policy, inc), notices

        out: IncidentOut = await rt.write(work)
        return out


def _answer_routes(router: APIRouter, Who: Any) -> None:
    @router.post("/api/incidents/{incident_id}/accept", response_model=IncidentOut)
    async def accept(incident_id: str, who: Who, rt: Runtime) -> IncidentOut:
        """Accept an offer: 409 when it is no longer open or all places are taken."""
        now = rt.hub.clock()

        async def work(s: AsyncSession) -> tuple[IncidentOut, Notices]:
            _offer, notices = await service.accept(s, rt.policy, who, incident_id, now)
            return await queries.incident_for(s, rt.policy, who, incident_id, now), notices

        out: IncidentOut = await rt.write(work)
        return out

    @router.post("/api/incidents/{incident_id}/decline")
    async def decline(incident_id: str, who: Who, rt: Runtime) -> dict[str, str]:
        """Decline an offer; it passes to the next nearest responder."""
        now = rt.hub.clock()

        async def work(s: AsyncSession) -> tuple[dict[str, str], Notices]:
            notices = await service.decline(s, rt.policy, who, incident_id, now)
            return {"incident_id": incident_id, "state": "declined"}, notices

        out: dict[str, str] = await rt.write(work)
        return out

    @router.post("/api/incidents/{incident_id}/status", response_model=IncidentOut)
    async def status(incident_id: str, body: StatusIn, who: Who, rt: Runtime) -> IncidentOut:
        """A responder's progress: en_route, on_scene, cpr_started, aed_attached."""
        now = rt.hub.clock()

        async def work(s: AsyncSession) -> tuple[IncidentOut, Notices]:
            notices = await service.set_status(s, who, incident_id, body.status, now)
            return await queries.incident_for(s, rt.policy, who, incident_id, now), notices

        out: IncidentOut = await rt.write(work)
        return out

    @router.post("/api/incidents/{incident_id}/close", response_model=IncidentOut)
    async def close(
        incident_id: str,
        who: Who,
        rt: Runtime,
        body: Annotated[CloseIn | None, Body()] = None,
    ) -> IncidentOut:
        """Close (handed_over, stood_down — the default — or cancelled): everyone stands down."""
        service.require_dispatcher(who)
        now = rt.hub.clock()
        outcome = (body or CloseIn()).outcome

        async def work(s: AsyncSession) -> tuple[IncidentOut, Notices]:
            notices = await service.close(s, who, incident_id, outcome, now)
            return await queries.incident_for(s, rt.policy, who, incident_id, now), notices

        out: IncidentOut = await rt.write(work)
        return out


def _socket_endpoint(authenticate: Authenticate) -> Callable[[WebSocket], Awaitable[None]]:
    async def dispatch_socket(ws: WebSocket) -> None:
        """Live frames for a responder's phone or a dispatcher's console; the first frame is
        the page's current state, so a reconnecting page picks up where it was."""
        rt: DispatchRuntime = ws.app.state.dispatch
        token = ws.query_params.get("access_token") or ws.cookies.get("telemed_token")
        await ws.accept()
        try:
            who = await authenticate(token)
            if who.role not in (Role.RESPONDER, Role.DISPATCHER, Role.ADMIN):
                raise Forbidden("the dispatch socket is for responders and dispatchers")
        except TelemedError as exc:
            await ws.send_json({"type": "error", "code": exc.code, "message": exc.message})
            await ws.close(1008)
            return
        phone = Phone(who.user_id, who.role is not Role.RESPONDER)
        rt.live.add(phone)  # before the snapshot, so nothing between them is missed
        try:
            await ws.send_json(await _hello(rt, who))
            await _serve(ws, phone)
        finally:
            rt.live.remove(phone)

    return dispatch_socket


async def _hello(rt: DispatchRuntime, who: Principal) -> dict[str, Any]:
    now = rt.hub.clock()
    hello: dict[str, Any] = {"type": "hello", "user": who.username, "role": who.role.value}
    if who.role is Role.RESPONDER:
        current = await _read(rt, lambda s: queries.current_for_responder(s, rt.policy, who, now))
        hello["current"] = current.model_dump(mode="json")
    return hello


async def _serve(ws: WebSocket, phone: Phone) -> None:
    pump = asyncio.create_task(_pump(ws, phone))
    try:
        while True:  # the page only talks to keep alive or to close
            await ws.receive_text()
    except WebSocketDisconnect:
        pass
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump


async def _pump(ws: WebSocket, phone: Phone) -> None:
    while True:
        try:
            async with asyncio.timeout(HEARTBEAT_S):
                frame = await phone.queue.get()
        except TimeoutError:
            await ws.send_json({"type": "heartbeat"})
            continue
        await ws.send_json(frame)
