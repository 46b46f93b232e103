"""Request ids and one log line per request, as a pure-ASGI middleware.

Each HTTP request and websocket gets a request id: the client's ``X-Request-ID`` when it is a
plain token (so a proxy's id follows the request), else a new one. It is returned in the
response's ``X-Request-ID`` and set in ``patient_hub.logs.REQUEST_ID`` for every line logged
while the request runs. When it ends, one line on logger ``telemed.access``: method, path
(never the query string, which may carry a websocket's ``access_token``), status, duration.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patient_hub.logs import REQUEST_ID

log = logging.getLogger("telemed.access")
_GIVEN_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id_of(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            given = str(value.decode("latin-1"))
            if _GIVEN_ID.match(given):
                return given
    return uuid.uuid4().hex


class RequestLog:
    """Sets the request id around each request and logs the request when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            elif message["type"] == "websocket.accept":
                status = 101
            elif message["type"] == "websocket.close" and not status:
                status = 403  # refused before the handshake completed
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "%s %s %s",
                scope.get("method", "WS"),
                scope["path"],
                status or 500,
                extra={
                    "method": scope.get("method", "WEBSOCKET"),
                    "path": scope["path"],
                    "status": status or 500,
                    "duration_ms": round(1000 * (time.perf_counter() - started), 1),
                },
            )
            REQUEST_ID.reset(token)
