"""Limits with clear answers, as one pure-ASGI middleware in front of the whole app.

* HTTP request bodies above ``max_body_bytes``: 413 (problem JSON; OperationOutcome under
  /fhir), decided from Content-Length when sent, else while the body streams in. Nothing is
  handed to the endpoint, so nothing changes.
* REST request rate: a token bucket per signed-in user (a valid bearer token or sign-in cookie)
  or, without one, per client IP address; over the limit: 429 with Retry-After. Static files
  and /healthz are not counted.
* Websocket frames above ``max_ws_frame_bytes``: the connection gets a protocol ``error`` frame
  (code "frame_too_large") and is closed with 1009 (message too big).
* Websocket connections: at most ``max_connections_per_bridge`` on /ws/bridge per bridge token
  (read from the hello frame) and ``max_connections_per_user`` on the other sockets per user;
  one more gets an ``error`` frame (code "too_many_connections") and close 1008.

Counts and buckets are per process (per API node). The bridge hot path pays one ``len()`` per
frame; a batch's item count is bounded by the protocol itself (``MAX_BATCH_ITEMS``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clinician_api.auth import tokens
from clinician_api.deps import COOKIE_NAME
from clinician_api.rate_buckets import RateBuckets
from clinician_api.settings import ServerSettings
from telemed_core.errors import TelemedError

BRIDGE_PATH = "/ws/bridge"
_UNCOUNTED = ("/static/", "/healthz")
MESSAGE_TOO_BIG = 1009
POLICY_VIOLATION = 1008


def _error_body(path: str, status: int, code: str, detail: str) -> tuple[bytes, bytes]:
    if path == "/fhir" or path.startswith("/fhir/"):
        issue = {"severity": "error", "code": code, "diagnostics": detail}
        body: dict[str, Any] = {"resourceType": "OperationOutcome", "issue": [issue]}
        return json.dumps(body).encode(), b"application/fhir+json"
    body = {"type": "about:blank", "title": code, "status": status, "detail": detail}
    return json.dumps(body).encode(), b"application/problem+json"


async def _answer(
    scope: Scope, send: Send, status: int, code: str, detail: str, **extra: str
) -> None:
    body, media_type = _error_body(scope["path"], status, code, detail)
    headers = [(b"content-type", media_type), (b"content-length", str(len(body)).encode())]
    headers += [(name.lower().encode(), value.encode()) for name, value in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _token(scope: Scope) -> str | None:
    headers = Headers(scope=scope)
    bearer = headers.get("authorization", "")
    if bearer.lower().startswith("bearer "):
        return bearer[7:].strip()
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE_NAME and value:
            return value
    query: bytes = scope.get("query_string", b"")
    for part in query.decode("latin-1").split("&"):
        name, _, value = part.partition("=")
        if name == "access_token" and value:
            return value
    return None


class Limits:
    """The middleware; built once by ``create_app`` from the settings."""

    def __init__(
        self,
        app: ASGIApp,
        settings: ServerSettings,
        clock_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.settings = settings
        self.clock_s = clock_s
        self.user_rate = RateBuckets(settings.rate_limit_user_per_min)
        self.ip_rate = RateBuckets(settings.rate_limit_ip_per_min)
        self.open: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _user_of(self, scope: Scope) -> str | None:
        token = _token(scope)
        if token is None:
            return None
        # The signing key may be loaded from the database in the lifespan: the app's settings
        # then hold it, not the ones this middleware was built with.
        app = scope.get("app")
        state_settings = getattr(getattr(app, "state", None), "settings", None)
        secret = getattr(state_settings, "secret_key", "") or self.settings.secret_key
        try:
            return tokens.verify(secret, token).user_id
        except (TelemedError, RuntimeError):  # RuntimeError: no key loaded yet
            return None

    def _client_ip(self, scope: Scope) -> str:
        client = scope.get("client")
        return str(client[0]) if client else "unknown"

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.settings.max_body_bytes
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await _answer(scope, send, 413, "too-large", f"request body over {limit} bytes")
            return
        if not scope["path"].startswith(_UNCOUNTED):
            wait_s = self._spend(scope)
            if wait_s:
                detail = f"too many requests; retry after {wait_s} s"
                await _answer(scope, send, 429, "throttled", detail, **{"Retry-After": str(wait_s)})
                return
        await self._bounded_body(scope, receive, send, limit)

    def _spend(self, scope: Scope) -> int:
        user = self._user_of(scope)
        if user is not None:
            return self.user_rate.take(user, self.clock_s())
        return self.ip_rate.take(self._client_ip(scope), self.clock_s())

    async def _bounded_body(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        # Over the limit mid-stream, the 413 is sent here and the endpoint sees a disconnected
        # client (FastAPI would turn an exception raised from receive() into a 400); whatever it
        # tries to send afterwards is dropped. It never saw the whole body, so nothing changed.
        received = 0
        started = answered = False

        async def counting_receive() -> Message:
            nonlocal received, answered
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit and not started and not answered:
                answered = True
                await _answer(scope, send, 413, "too-large", f"request body over {limit} bytes")
            return {"type": "http.disconnect"} if answered else message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counting_receive, tracking_send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == BRIDGE_PATH:
            await self._bridge_socket(scope, receive, send)
            return
        user = self._user_of(scope)
        key = f"user:{user}" if user is not None else None
        if key is not None and self.open[key] >= self.settings.max_connections_per_user:
            await _refuse_connect(receive, send, self.settings.max_connections_per_user, "user")
            return
        await self._counted(key, scope, self._frame_limited(receive, send), send)

    async def _counted(self, key: str | None, scope: Scope, receive: Receive, send: Send) -> None:
        if key is not None:
            self.open[key] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            if key is not None:
                self.open[key] -= 1
                if self.open[key] <= 0:
                    del self.open[key]

    def _frame_limited(self, receive: Receive, send: Send) -> Receive:
        limit = self.settings.max_ws_frame_bytes

        async def limited() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive":
                size = len(message.get("text") or message.get("bytes") or b"")
                if size > limit:
                    detail = f"frame of {size} bytes is over the limit of {limit} bytes"
                    await _send_error(send, "frame_too_large", detail, MESSAGE_TOO_BIG)
                    return {"type": "websocket.disconnect", "code": MESSAGE_TOO_BIG}
            return message

        return limited

    async def _bridge_socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        limited = self._frame_limited(receive, send)
        key: str | None = None
        seen_hello = False

        async def hello_aware() -> Message:
            # the bridge is known from its hello (the first frame after accept); counted once
            nonlocal key, seen_hello
            message = await limited()
            if message["type"] == "websocket.receive" and not seen_hello:
                seen_hello = True
                key = _bridge_key(message)
                if key is not None and self.open[key] >= self.settings.max_connections_per_bridge:
                    cap = self.settings.max_connections_per_bridge
                    await _send_error(
                        send,
                        "too_many_connections",
                        f"this bridge already has {cap} open connections",
                        POLICY_VIOLATION,
                    )
                    key = None
                    return {"type": "websocket.disconnect", "code": POLICY_VIOLATION}
                if key is not None:
                    self.open[key] += 1
            return message

        try:
            await self.app(scope, hello_aware, send)
        finally:
            if key is not None:
                self.open[key] -= 1
                if self.open[key] <= 0:
                    del self.open[key]


def _bridge_key(message: Message) -> str | None:
    raw = message.get("text") or message.get("bytes") or b""
    try:
        hello = json.loads(raw)
    except ValueError:
        return None
    token = hello.get("token") if isinstance(hello, dict) else None
    if not isinstance(token, str):
        return None
    return "bridge:" + hashlib.sha256(token.encode()).hexdigest()[:32]


async def _send_error(send: Send, code: str, message: str, close_code: int) -> None:
    frame = json.dumps({"type": "error", "code": code, "message": message})
    await send({"type": "websocket.send", "text": frame})
    await send({"type": "websocket.close", "code": close_code})


async def _refuse_connect(receive: Receive, send: Send, cap: int, who: str) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await _send_error(
        send, "too_many_connections", f"this {who} already has {cap} open connections", 1008
    )
