"""Role x endpoint access matrix, generated from the app's route table.

Every HTTP route and websocket of ``create_app`` must have a rule below saying who gets
through; a new route without one fails ``test_every_route_has_an_access_rule``. The matrix test
then calls every route as every role (and anonymously) on a live hub and compares:

* refused: 401, 403, a redirect to the sign-in page, a websocket refused or answered with an
  error frame; and 404 on a route about patient p1 (an invisible patient is a 404, so that
  existence does not leak);
* through: anything else (a 404 for an id that does not exist: the caller was let in, and the
  request failed on its merits).

Requests carry a minimal valid body and query built from the OpenAPI schema, so that an endpoint
that validates its input before it checks the caller's role still reaches the role check. A 404
on a route whose ids name nothing (alerts, incidents, subscriptions) proves only that no role got
a 2xx or a 422 past a gate it should not pass. The screens are called with the session cookie of
``POST /login`` (they do not take bearer tokens); a redirect that is not to the sign-in page
(``/`` sends each role to its home screen) counts as through.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import BaseRoute, Route, WebSocketRoute

from clinician_api.app import create_app
from clinician_api.settings import ServerSettings
from tests.conftest import token_for

ANON = "anonymous"
USERS = ("pat1", "nurse-a", "cardio", "resp", "disp", "admin")
EVERYONE = frozenset({ANON, *USERS})
SIGNED_IN = frozenset(USERS)
NOBODY: frozenset[str] = frozenset()
ADMIN = frozenset({"admin"})
CLINICIANS = frozenset({"nurse-a", "cardio", "admin"})
#: p1 is a patient of nurse-a's telemedpoint; cardio's care team is p3 only.
SEES_P1 = frozenset({"pat1", "nurse-a", "admin"})
CARE_OF_P1 = frozenset({"nurse-a", "admin"})
RESPONDERS = frozenset({"resp"})
DISPATCHERS = frozenset({"disp", "admin"})

#: "METHOD path" -> who gets through. WS marks a websocket (token in ``access_token``).
RULES: dict[str, frozenset[str]] = {
    # operations and sign-in
    "GET /healthz": EVERYONE,
    "GET /metrics": EVERYONE,
    "GET /readyz": EVERYONE,
    "POST /auth/token": EVERYONE,
    "POST /auth/logout": SIGNED_IN,
    "GET /login": EVERYONE,
    "POST /login": EVERYONE,
    "POST /logout": EVERYONE,
    "GET /favicon.ico": EVERYONE,
    "GET /api/me": SIGNED_IN,
    "PUT /api/me/language": SIGNED_IN,
    "GET /api/me/sessions": SIGNED_IN,
    "DELETE /api/me/sessions/{session_id}": SIGNED_IN,  # only the caller's own sessions (404)
    "POST /api/me/password": SIGNED_IN,  # the current password is asked again (400 if wrong)
    "POST /api/me/sign-out-everywhere": SIGNED_IN,
    # the bridge socket takes a bridge credential in its hello, never a user's token
    "WS /ws/bridge": NOBODY,
    # patients and their data
    "GET /api/patients": SIGNED_IN,
    "POST /api/patients": ADMIN,
    "GET /api/patients/{patient_id}": SEES_P1,
    "GET /api/patients/{patient_id}/readings": SEES_P1,
    "GET /api/patients/{patient_id}/findings": SEES_P1,
    "GET /api/patients/{patient_id}/trends": SEES_P1,
    "GET /api/patients/{patient_id}/summary": SEES_P1,
    "GET /api/patients/{patient_id}/today": SEES_P1,
    "GET /api/patients/{patient_id}/devices": SEES_P1,
    "GET /api/patients/{patient_id}/notes": CARE_OF_P1,
    "POST /api/patients/{patient_id}/notes": CARE_OF_P1,
    "GET /api/patients/{patient_id}/report.pdf": CARE_OF_P1,
    "GET /api/patients/{patient_id}/audit": ADMIN,
    "GET /api/patients/{patient_id}/care-team": ADMIN,
    "DELETE /api/patients/{patient_id}/care-team/{username}": ADMIN,
    "GET /api/patients/{patient_id}/schedules": SEES_P1,
    "POST /api/patients/{patient_id}/schedules": CARE_OF_P1,
    "GET /api/patients/{patient_id}/episodes": SEES_P1,  # a patient sees when care was alerted
    "GET /api/patients/{patient_id}/reminders": SEES_P1,
    "GET /api/patients/{patient_id}/alert-policy": SEES_P1,  # a patient sees their thresholds
    "POST /api/patients/{patient_id}/alert-policy": CARE_OF_P1,
    "POST /api/patients/{patient_id}/send-responders": CARE_OF_P1,
    "WS /ws/patients/{patient_id}/ecg": SEES_P1,
    # administration
    "POST /api/telemedpoints": ADMIN,
    "DELETE /api/test-data": ADMIN,
    "POST /api/care-team": ADMIN,
    "POST /api/bridges": ADMIN,
    "GET /api/audit/verify": ADMIN,
    "GET /fhir/AuditEvent": ADMIN,
    "POST /api/kiosks/enrolment-tokens": ADMIN,
    "POST /api/kiosks/enrol": NOBODY,  # only an enrolment token (in the body) opens it
    "GET /api/kiosks": ADMIN,
    "GET /api/admin/users": ADMIN,
    "POST /api/admin/users": ADMIN,
    "POST /api/admin/users/{username}/disable": ADMIN,
    "POST /api/admin/users/{username}/enable": ADMIN,
    "POST /api/admin/users/{username}/password": ADMIN,
    "PUT /api/admin/users/{username}/telemedpoint": ADMIN,
    "GET /api/admin/users/{username}/patients": ADMIN,
    "GET /api/telemedpoints": ADMIN,
    "POST /api/admin/enrolments": ADMIN,
    "GET /api/admin/patient-search": ADMIN,
    "POST /api/admin/devices": ADMIN,
    "POST /api/admin/devices/{device_id}/retire": ADMIN,
    # monitor
    "GET /api/monitor/snapshot": SIGNED_IN,
    "GET /api/monitor/sparklines": SIGNED_IN,
    "WS /ws/monitor": SIGNED_IN,
    # teleconsults
    "GET /api/teleconsults": CLINICIANS,
    "GET /api/teleconsults/{request_id}": CLINICIANS,
    "POST /api/teleconsults/{request_id}": CLINICIANS,
    # alerts
    "GET /api/alerts": SIGNED_IN,
    "GET /api/alerts/pauses": SIGNED_IN,
    "GET /api/alerts/stats": ADMIN,
    "POST /api/alerts/replay": ADMIN,
    "GET /api/alerts/{alert_id}": SIGNED_IN,
    "POST /api/alerts/{alert_id}/accept": SIGNED_IN,
    "POST /api/alerts/{alert_id}/reject": SIGNED_IN,
    "POST /api/alerts/{alert_id}/pause": SIGNED_IN,
    "POST /api/alerts/{alert_id}/resolve": SIGNED_IN,
    # screens (HTML; data comes from the API above)
    "GET /": SIGNED_IN,
    "GET /monitor": SIGNED_IN,
    "GET /respond": SIGNED_IN,
    "GET /dispatch": SIGNED_IN,
    "GET /patients/{patient_id}": SEES_P1,
    "GET /me": SIGNED_IN,
    "GET /account": SIGNED_IN,
    # the page holds no data (that comes from /api/admin/*, admins only); any other role is
    # redirected to its own home screen, which this matrix counts as through
    "GET /admin": SIGNED_IN,
    "GET /openapi.json": SIGNED_IN,
    "GET /docs": SIGNED_IN,
    "GET /redoc": SIGNED_IN,
    # FHIR
    "GET /fhir/metadata": EVERYONE,
    "POST /fhir": frozenset({"nurse-a", "admin"}),  # UPLOAD_ROLES: device data from a point
    "POST /fhir/": frozenset({"nurse-a", "admin"}),
    "POST /fhir/Subscription": SIGNED_IN,
    "GET /fhir/Subscription/$get-ws-binding-token": SIGNED_IN,
    "POST /fhir/Subscription/$get-ws-binding-token": SIGNED_IN,
    "GET /fhir/Subscription/{sub_id}": SIGNED_IN,
    "DELETE /fhir/Subscription/{sub_id}": SIGNED_IN,
    "GET /fhir/Subscription/{sub_id}/$status": SIGNED_IN,
    "GET /fhir/Subscription/{sub_id}/$events": SIGNED_IN,
    "GET /fhir/Subscription/{sub_id}/$get-ws-binding-token": SIGNED_IN,
    "POST /fhir/Subscription/{sub_id}/$get-ws-binding-token": SIGNED_IN,
    # FHIR subscriptions' socket opens for anyone; nothing flows until a binding token is bound
    # (tests/clinician_api/fhir/test_subscriptions.py)
    "WS /fhir/ws": EVERYONE,
    "GET /fhir/Patient": SIGNED_IN,
    "GET /fhir/Patient/{patient_id}": SEES_P1,
    "GET /fhir/Device": SIGNED_IN,
    "GET /fhir/Device/{device_id}": SIGNED_IN,
    "GET /fhir/Observation/$lastn": SIGNED_IN,
    "GET /fhir/Observation": SIGNED_IN,
    "GET /fhir/Observation/{observation_id}": SIGNED_IN,
    "GET /fhir/Flag/{flag_id}": SIGNED_IN,
    "GET /fhir/Flag": SIGNED_IN,
    # first-responder dispatch
    "POST /api/responders/me/duty": RESPONDERS,
    "POST /api/responders/me/position": RESPONDERS,
    "GET /api/responders/me/offers": RESPONDERS,
    "GET /api/responders/me": RESPONDERS,
    "PUT /api/responders/{username}": DISPATCHERS,
    "POST /api/incidents": DISPATCHERS,
    "GET /api/incidents": DISPATCHERS,
    "GET /api/incidents/{incident_id}": DISPATCHERS | RESPONDERS,
    "POST /api/incidents/{incident_id}/accept": RESPONDERS,
    "POST /api/incidents/{incident_id}/decline": RESPONDERS,
    "POST /api/incidents/{incident_id}/status": RESPONDERS,
    "POST /api/incidents/{incident_id}/close": DISPATCHERS,
    "WS /ws/dispatch": RESPONDERS | DISPATCHERS,
}
#: Values of path parameters: p1 exists; the other ids name nothing.
PATH_VALUES = {"patient_id": "p1", "username": "cardio"}
#: Inputs whose schema says more than its types (patterns, values checked in code).
PROBE_OVERRIDES: dict[str, tuple[dict[str, Any], Any]] = {
    "POST /api/patients/{patient_id}/schedules": (
        {},
        {"kind": "body_weight", "local_time": "07:00"},
    ),
    "POST /api/teleconsults/{request_id}": ({}, {"status": "accepted"}),
    "POST /api/incidents/{incident_id}/status": ({}, {"status": "en_route"}),
}
#: Routes that change who is signed in: called last, so the others keep their tokens.
LAST = ("POST /auth/logout", "POST /logout", "POST /api/me/sign-out-everywhere")
#: The admin's account actions (disable, reset password: both end the user's sessions) act on
#: an account of their own, so the roles' tokens survive the matrix.
ACCOUNT_PATH = "/api/admin/users/{username}"
SPARE_USER = "spare-nurse"
#: The screens: signed in by the session cookie of POST /login, not by a bearer token.
PAGES = frozenset(
    {"GET /", "GET /monitor", "GET /respond", "GET /dispatch", "GET /patients/{patient_id}",
     "GET /me", "GET /account", "GET /admin", "POST /logout"}
)  # fmt: skip


def _walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI's included routers
        if inner is not None:
            yield from _walk(inner.routes, prefix + (getattr(route, "prefix", "") or ""))
        else:
            yield prefix, route


def route_table() -> list[str]:
    """Every "METHOD path" and "WS path" the app serves (static files aside)."""
    app = create_app(ServerSettings(database_url="sqlite:///unused.db"))
    out = []
    for prefix, route in _walk(app.routes):
        if isinstance(route, APIWebSocketRoute | WebSocketRoute):
            out.append(f"WS {prefix}{route.path}")
        elif isinstance(route, APIRoute | Route):
            out += [
                f"{m} {prefix}{route.path}" for m in sorted((route.methods or set()) - {"HEAD"})
            ]
    return out


def test_every_route_has_an_access_rule() -> None:
    table = route_table()
    assert len(table) > 90
    assert sorted(set(table) - set(RULES)) == [], "routes without an access rule"
    assert sorted(set(RULES) - set(table)) == [], "rules of routes that no longer exist"


def _url(path: str) -> str:
    path = path.replace(ACCOUNT_PATH, ACCOUNT_PATH.replace("{username}", SPARE_USER))
    for name, value in PATH_VALUES.items():
        path = path.replace("{" + name + "}", value)
    return path.replace("{", "").replace("}", "")  # other ids: their own names, which exist not


def _minimal(schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    """The smallest value the JSON schema accepts, as far as its types say."""
    if "$ref" in schema:
        return _minimal(spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]], spec)
    for combined in ("anyOf", "oneOf", "allOf"):
        if combined in schema:
            return _minimal(schema[combined][0], spec)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _minimal(props[k], spec) for k in schema.get("required", []) if k in props}
    fmt = schema.get("format", "")
    if kind == "string":
        text = (
            "2026-12-07T08:00:00Z" if fmt == "date-time" else "2026-12-07" if fmt == "date" else "x"
        )
        return text * max(1, -(-schema.get("minLength", 1) // len(text)))
    if kind in ("integer", "number"):
        return max(schema.get("minimum", 1), schema.get("exclusiveMinimum", 0) + 1)
    return [] if kind == "array" else False


def probes() -> dict[str, tuple[dict[str, Any], Any]]:
    """Per "METHOD path": (required query parameters, JSON body) built from the schema."""
    app = create_app(ServerSettings(database_url="sqlite:///unused.db"))
    spec = app.openapi()
    out: dict[str, tuple[dict[str, Any], Any]] = {}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            query = {
                p["name"]: _minimal(p.get("schema", {}), spec)
                for p in op.get("parameters", [])
                if p["in"] == "query" and p.get("required")
            }
            content = op.get("requestBody", {}).get("content", {})
            body = None
            if "application/json" in content:
                body = _minimal(content["application/json"].get("schema", {}), spec)
            out[f"{method.upper()} {path}"] = (query, body)
    return out


async def _http(
    client: httpx.AsyncClient, key: str, token: str | None, probe: tuple[dict[str, Any], Any]
) -> tuple[bool, str]:
    method, path = key.split(" ", 1)
    headers = {"Authorization": f"Bearer {token}"} if token and key not in PAGES else {}
    if key in PAGES and (csrf := client.cookies.get("telemed_csrf")):
        headers["X-CSRF-Token"] = csrf
    query, body = probe
    if body is None and method not in ("GET", "DELETE"):
        body = {}
    reply = await client.request(method, _url(path), headers=headers, params=query, json=body)
    status = reply.status_code
    to_login = reply.is_redirect and "/login" in reply.headers.get("location", "")
    about_p1 = "{patient_id}" in path and path.count("{") == 1
    if status == 404 and "{" in path and not about_p1:
        return True, "404 (names nothing: either)"  # the module docstring says why
    refused = status in (401, 403) or (status == 404 and about_p1)
    if key != "POST /logout":  # signing out ends on the sign-in page, whoever asks
        refused = refused or to_login
    assert status < 500, f"{key}: {status} {reply.text[:200]}"
    return not refused, str(status)


async def _ws(ws_url: str, key: str, token: str | None) -> tuple[bool, str]:
    path = _url(key.split(" ", 1)[1])
    url = ws_url + path + (f"?access_token={token}" if token else "")
    try:
        async with websockets.connect(url, open_timeout=10) as ws:
            if path == "/ws/bridge":
                hello = {"type": "hello", "v": 1, "bridge_id": "x", "token": token or "x"}
                await ws.send(json.dumps(hello))
            try:
                first = json.loads(await asyncio.wait_for(ws.recv(), 2))
            except TimeoutError:
                return True, "open"  # accepted, waiting for events
            except websockets.ConnectionClosed as closed:
                return False, f"closed {closed.rcvd.code if closed.rcvd else '?'}"
            if first.get("type") == "error" or first.get("resourceType") == "OperationOutcome":
                return False, f"error frame {first.get('code', '')}"
            return True, f"frame {first.get('type', '?')}"
    except websockets.InvalidStatus as refused:
        return False, str(refused.response.status_code)


@pytest.mark.slow
async def test_each_role_gets_through_exactly_the_routes_its_rule_names(
    run_hub: Any, seed: Any, tmp_path: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    from clinician_api.migrate import upgrade_async
    from patient_hub.accounts.service import create_user
    from patient_hub.db import make_engine, make_sessionmaker, unit_of_work

    await upgrade_async(url)
    await seed(url)
    engine = make_engine(url)
    async with unit_of_work(make_sessionmaker(engine)) as session:
        await create_user(session, "disp", "pw-disp", "dispatcher")
        await create_user(session, SPARE_USER, "pw-spare-nurse", "nurse")
    await engine.dispose()
    limits = {"rate_limit_ip_per_min": 100_000, "rate_limit_user_per_min": 100_000}
    hub = await run_hub(url, **limits)
    try:
        tokens: dict[str, str | None] = {ANON: None}
        clients = {ANON: httpx.AsyncClient(base_url=hub.url, timeout=60)}

        async def sign_in_everyone() -> None:
            for user in USERS:
                tokens[user] = await token_for(hub, user)
                if user in clients:
                    await clients[user].aclose()
                clients[user] = httpx.AsyncClient(base_url=hub.url, timeout=60)
                form = {"username": user, "password": f"pw-{user}"}
                assert (await clients[user].post("/login", data=form)).is_redirect

        await sign_in_everyone()
        keys = sorted(RULES, key=lambda k: (LAST.index(k) if k in LAST else -1, k))
        inputs = probes()
        wrong = []
        for key in keys:  # the principals of one route at once; routes in order (logout last)
            if key in LAST[1:]:  # the previous one ended the sessions: sign in afresh
                await sign_in_everyone()
            probe = PROBE_OVERRIDES.get(key) or inputs.get(key, ({}, None))
            calls = [
                _ws(hub.ws_url, key, token)
                if key.startswith("WS ")
                else _http(clients[who], key, token, probe)
                for who, token in tokens.items()
            ]
            for who, (through, got) in zip(tokens, await asyncio.gather(*calls), strict=True):
                if got.startswith("404 (names nothing"):
                    continue
                if through != (who in RULES[key]):
                    expected = "through" if who in RULES[key] else "refused"
                    wrong.append(f"{key} as {who}: {got}, expected {expected}")
        for client in clients.values():
            await client.aclose()
    finally:
        with contextlib.suppress(Exception):
            await hub.stop()
    assert not wrong, f"{len(wrong)} cells differ from the rules:\n" + "\n".join(wrong)
