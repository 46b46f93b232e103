"""``/me``: the patient portal, where a patient lands after sign-in."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from clinician_api.i18n import render_page
from clinician_api.web.endpoints import WEB, with_nav
from clinician_api.web.session import page_language, page_principal
from patient_hub.accounts.models import Role

router = APIRouter(include_in_schema=False)
_PAGE = (WEB / "me.html").read_text(encoding="utf-8")


@router.get("/me")
async def portal_page(request: Request) -> Response:
    who = await page_principal(request)
    if who is None:
        return RedirectResponse("/login", status_code=303)
    if who.role is not Role.PATIENT:
        return RedirectResponse("/", status_code=303)
    return HTMLResponse(render_page(with_nav(_PAGE, who), await page_language(request, who)))
