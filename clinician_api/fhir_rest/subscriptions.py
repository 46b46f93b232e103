"""Topic-based Subscriptions over ``/fhir`` (Subscriptions R5 Backport IG, websocket channel).

REST: ``POST /fhir/Subscription``, ``GET``/``DELETE /fhir/Subscription/{id}``, ``$status``,
``$events`` (replay from the durable log), ``$get-ws-binding-token`` (instance and type level).
Websocket ``/fhir/ws``: the client sends ``bind-with-token <token>`` (as many times as it likes,
one socket serves many subscriptions); the server answers with a ``handshake`` per subscription,
then ``event-notification`` Bundles as events are numbered, and ``heartbeat`` Bundles after
``backport-heartbeat-period`` seconds without a notification.

Each API process runs one :class:`SubscriptionHub`: the numbering consumer
(``patient_hub.fhir.subscriptions.worker.SubscriptionEventWorker``) and one tail of the numbered-events
topic that pushes each event to the sockets bound here. Binding tokens are JWTs signed with a key
derived from the server secret, so a binding token is never accepted as an access token.

Roles: this module (the routes: REST and the websocket), ``subscription_push.py`` (the
per-process hub and its sockets), ``subscription_tokens.py`` (binding tokens).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from clinician_api.deps import CurrentPrincipal, get_hub, get_settings
from clinician_api.fhir_rest.outcome import ISSUE_CODES, fhir_response, operation_outcome
from clinician_api.fhir_rest.subscription_push import Connection, SubscriptionHub
from clinician_api.fhir_rest.subscription_tokens import issue_binding_token, verify_binding_token
from patient_hub.accounts.models import User
from patient_hub.accounts.service import principal_of
from patient_hub.db import unit_of_work
from patient_hub.fhir.subscriptions import store as subs
from patient_hub.fhir.subscriptions.notifications import Event, notification_bundle
from patient_hub.fhir.subscriptions.parse import parse_subscription
from patient_hub.fhir.subscriptions.topics import CONTENTS
from telemed_core.errors import InvalidInput, NotAuthenticated, TelemedError

router = APIRouter(tags=["fhir"])


async def _committed_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with unit_of_work(get_hub(request).sessions) as session:
        yield session


#: Committed before the response is sent (``scope="function"``): a client that creates a
#: Subscription and asks for its binding token at once must find it.
Committed = Annotated[AsyncSession, Depends(_committed_session, scope="function")]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidInput("the body is not JSON") from None


@router.post("/fhir/Subscription", summary="Create a topic-based Subscription (websocket)")
async def create_subscription(
    request: Request, session: Committed, who: CurrentPrincipal
) -> JSONResponse:
    body = await _json(request)
    spec = parse_subscription(body)
    row = await subs.create_subscription(session, body, spec, who, get_hub(request).clock())
    location = f"{_base(request)}/Subscription/{row.id}"
    return fhir_response(subs.subscription_resource(row), 201, Location=location)


# One route per method, each with its own operation id (a two-method route repeats one id).
@router.get("/fhir/Subscription/$get-ws-binding-token", summary="Binding token")
@router.post(
    "/fhir/Subscription/$get-ws-binding-token",
    summary="Binding token",
    operation_id="binding_token_for_many_post",
)
async def binding_token_for_many(
    request: Request,
    session: Committed,
    who: CurrentPrincipal,
    ids: Annotated[list[str] | None, Query(alias="id")] = None,
) -> JSONResponse:
    """A token for the listed subscriptions (or every websocket subscription of the caller)."""
    if ids:
        rows = [await subs.get_subscription(session, i, who) for i in ids]
    else:
        rows = await subs.owned_subscriptions(session, who)
    return _token_parameters(request, who.user_id, [r.id for r in rows])


@router.get("/fhir/Subscription/{sub_id}", summary="Read a Subscription")
async def read_subscription(sub_id: str, session: Committed, who: CurrentPrincipal) -> JSONResponse:
    return fhir_response(
        subs.subscription_resource(await subs.get_subscription(session, sub_id, who))
    )


@router.delete("/fhir/Subscription/{sub_id}", summary="Delete a Subscription and its event log")
async def delete_subscription(sub_id: str, session: Committed, who: CurrentPrincipal) -> Response:
    await subs.delete_subscription(session, sub_id, who)
    return Response(status_code=204)


@router.get("/fhir/Subscription/{sub_id}/$status", summary="Subscription status")
async def subscription_status(
    request: Request, sub_id: str, session: Committed, who: CurrentPrincipal
) -> JSONResponse:
    row = await subs.get_subscription(session, sub_id, who)
    now = get_hub(request).clock()
    status = notification_bundle(row, "query-status", [], _base(request), now)["entry"][0]
    return fhir_response({"resourceType": "Bundle", "type": "searchset", "total": 1,
                          "entry": [{**status, "search": {"mode": "match"}}]})  # fmt: skip


@router.get("/fhir/Subscription/{sub_id}/$events", summary="Replay logged events")
async def subscription_events(
    request: Request,
    sub_id: str,
    session: Committed,
    who: CurrentPrincipal,
    since: Annotated[int, Query(alias="eventsSinceNumber", ge=0)] = 1,
    until: Annotated[int | None, Query(alias="eventsUntilNumber", ge=0)] = None,
    content: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    """Events ``eventsSinceNumber`` .. ``eventsUntilNumber`` (inclusive, at most 1000)."""
    if content is not None and content not in CONTENTS:
        raise InvalidInput(f"content must be one of {CONTENTS}")
    row = await subs.get_subscription(session, sub_id, who)
    logged = await subs.events_between(session, sub_id, since, until)
    events = [Event(e.event_number, e.occurred_at, e.focus) for e in logged]
    now = get_hub(request).clock()
    return fhir_response(
        notification_bundle(row, "query-event", events, _base(request), now, content=content)
    )


@router.get(
    "/fhir/Subscription/{sub_id}/$get-ws-binding-token",
    summary="Binding token for one Subscription",
)
@router.post(
    "/fhir/Subscription/{sub_id}/$get-ws-binding-token",
    summary="Binding token for one Subscription",
    operation_id="binding_token_post",
)
async def binding_token(
    request: Request, sub_id: str, session: Committed, who: CurrentPrincipal
) -> JSONResponse:
    row = await subs.get_subscription(session, sub_id, who)
    return _token_parameters(request, who.user_id, [row.id])


def _token_parameters(request: Request, user_id: str, sub_ids: list[str]) -> JSONResponse:
    secret = get_settings(request).secret_key
    token, expires = issue_binding_token(secret, user_id, sub_ids, get_hub(request).clock())
    ws_url = _base(request).replace("http", "ws", 1) + "/ws"
    params: list[dict[str, Any]] = [
        {"name": "token", "valueString": token},
        {"name": "expiration", "valueDateTime": expires.isoformat().replace("+00:00", "Z")},
        *({"name": "subscription", "valueString": s} for s in sub_ids),
        {"name": "websocket-url", "valueUrl": ws_url},
    ]
    return fhir_response({"resourceType": "Parameters", "parameter": params})


def _command(text: str) -> tuple[str, str]:
    """``bind-with-token <token>`` (Backport IG) or Medplum's JSON ``{"type", "payload"}``."""
    if text.lstrip().startswith("{"):
        try:
            message = json.loads(text)
            return str(message.get("type", "")), str(
                (message.get("payload") or {}).get("token", "")
            )
        except (json.JSONDecodeError, AttributeError):
            return "", ""
    verb, _, token = text.strip().partition(" ")
    return verb, token.strip()


async def _bind(conn: Connection, subs_hub: SubscriptionHub, token: str) -> None:
    hub = conn.hub
    settings = conn.ws.app.state.settings
    user_id, sub_ids = verify_binding_token(settings.secret_key, token)
    async with unit_of_work(hub.sessions) as session:
        user = await session.get(User, user_id)
        if user is None or not user.active:
            raise NotAuthenticated("the account no longer exists or is disabled")
        who = principal_of(user)
        rows = [await subs.get_subscription(session, s, who) for s in sub_ids]
    for row in rows:
        subs_hub.attach(conn, row.id)
        conn.bind(row)


@router.websocket("/fhir/ws")
async def subscription_socket(ws: WebSocket) -> None:
    """Binds with ``bind-with-token``; pushes handshake, event-notification and heartbeat."""
    subs_hub: SubscriptionHub = ws.app.state.fhir_subscriptions
    await ws.accept()
    scheme = "https" if ws.url.scheme == "wss" else "http"
    conn = Connection(ws, ws.app.state.hub, f"{scheme}://{ws.url.netloc}/fhir")
    pump = asyncio.create_task(conn.pump())
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            verb, token = _command(message.get("text") or "")
            try:
                if verb == "bind-with-token" and token:
                    await _bind(conn, subs_hub, token)
                elif verb == "unbind-from-token" and token:
                    _, sub_ids = verify_binding_token(ws.app.state.settings.secret_key, token)
                    subs_hub.detach(conn, sub_ids)
                    for s in sub_ids:
                        conn.bound.pop(s, None)
                else:
                    raise InvalidInput("expected 'bind-with-token <token>'")
            except TelemedError as exc:
                code = ISSUE_CODES.get(exc.status_code, "processing")
                conn.put(operation_outcome(exc.message, code))
    except WebSocketDisconnect:
        pass
    finally:
        subs_hub.detach(conn)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump
