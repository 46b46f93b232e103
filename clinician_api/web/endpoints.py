"""The web screens: served as static HTML/JS; data comes from the API and websockets."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from clinician_api.deps import COOKIE_NAME, principal_from_token
from patient_hub.db import unit_of_work
from telemed_core.errors import TelemedError

WEB = Path(__file__).resolve().parent
router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> RedirectResponse:
    return RedirectResponse("/monitor", status_code=303)


async def _page(request: Request, name: str, path: str) -> Response:
    """A screen for a signed-in user; the sign-in page (then back here) otherwise."""
    try:
        async with unit_of_work(request.app.state.hub.sessions) as session:
            settings = request.app.state.settings
            await principal_from_token(
                session,
                settings.secret_key,
                request.cookies.get(COOKIE_NAME),
                idle_timeout_s=settings.idle_timeout_s,
            )
    except TelemedError:
        expired = "error=expired&" if request.cookies.get(COOKIE_NAME) else ""
        back = f"next={path}" if path != "/monitor" else ""
        query = (expired + back).rstrip("&")
        return RedirectResponse("/login" + (f"?{query}" if query else ""), status_code=303)
    # no-store: after sign-out the browser must ask again (and be sent to sign-in), not show
    # a cached copy of a signed-in screen
    return FileResponse(WEB / name, headers={"Cache-Control": "no-store"})


@router.get("/monitor")
async def monitor_page(request: Request) -> Response:
    """The group-monitoring screen; signs the user in first if needed."""
    return await _page(request, "monitor.html", "/monitor")


@router.get("/respond")
async def respond_page(request: Request) -> Response:
    """The first responder's phone page."""
    return await _page(request, "respond.html", "/respond")


@router.get("/dispatch")
async def dispatch_page(request: Request) -> Response:
    """The dispatcher's console."""
    return await _page(request, "dispatch.html", "/dispatch")
