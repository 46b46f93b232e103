"""The web screens: served as static HTML/JS; data comes from the API and websockets."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from clinician_api.deps import COOKIE_NAME
from clinician_api.i18n import render_page
from clinician_api.web.session import page_language, page_principal
from patient_hub.access import Principal
from patient_hub.accounts.models import Role

WEB = Path(__file__).resolve().parent
router = APIRouter(include_in_schema=False)


@router.get("/")
async def index(request: Request) -> RedirectResponse:
    """Each role's home: patients their portal, everyone else the group monitor."""
    who = await page_principal(request)
    if who is None:
        return RedirectResponse("/login", status_code=303)
    home = {Role.PATIENT: "/me", Role.RESPONDER: "/respond", Role.DISPATCHER: "/dispatch"}
    return RedirectResponse(home.get(who.role, "/monitor"), status_code=303)


#: The header's link to the admin screens, for admins only (``<!--admin-link-->`` in a page).
ADMIN_LINK = '<a href="/admin">{{_ Administration}}</a>'


def with_nav(text: str, who: Principal) -> str:
    return text.replace("<!--admin-link-->", ADMIN_LINK if who.role is Role.ADMIN else "")


async def page(request: Request, name: str, path: str) -> Response:
    """A screen for a signed-in user; the sign-in page (then back here) otherwise."""
    who = await page_principal(request)
    if who is None:
        expired = "error=expired&" if request.cookies.get(COOKIE_NAME) else ""
        query = (expired + f"next={path}").rstrip("&")
        return RedirectResponse(f"/login?{query}", status_code=303)
    text = with_nav((WEB / name).read_text(encoding="utf-8"), who)
    # no-store: after sign-out the browser must ask again (and be sent to sign-in), not show
    # a cached copy of a signed-in screen
    return HTMLResponse(
        render_page(text, await page_language(request, who)),
        headers={"Cache-Control": "no-store"},
    )


@router.get("/monitor")
async def monitor_page(request: Request) -> Response:
    """The group-monitoring screen; signs the user in first if needed."""
    who = await page_principal(request)
    if who is None:
        return RedirectResponse(
            "/login?error=expired" if request.cookies.get(COOKIE_NAME) else "/login",
            status_code=303,
        )
    if who.role is Role.PATIENT:
        return RedirectResponse("/me", status_code=303)
    text = with_nav((WEB / "monitor.html").read_text(encoding="utf-8"), who)
    # no-store: after sign-out the browser must ask again (and be sent to sign-in), not show
    # a cached copy of a signed-in screen
    return HTMLResponse(
        render_page(text, await page_language(request, who)),
        headers={"Cache-Control": "no-store"},
    )


@router.get("/respond")
async def respond_page(request: Request) -> Response:
    """The first responder's phone page."""
    return await page(request, "respond.html", "/respond")


@router.get("/dispatch")
async def dispatch_page(request: Request) -> Response:
    """The dispatcher's console."""
    return await page(request, "dispatch.html", "/dispatch")
