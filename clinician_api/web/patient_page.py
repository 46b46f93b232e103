"""``/patients/{id}``: the patient timeline page for clinicians (patients go to ``/me``)."""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from clinician_api.i18n import render_page
from clinician_api.web.endpoints import WEB, with_nav
from clinician_api.web.session import page_language, page_principal
from patient_hub.access import require_patient
from patient_hub.accounts.models import Role
from patient_hub.db import unit_of_work
from telemed_core.errors import NotFound

router = APIRouter(include_in_schema=False)
_PAGE = (WEB / "patient.html").read_text(encoding="utf-8")
_NOT_FOUND = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Not found · Telemed</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/style.css"><link rel="stylesheet" href="/static/screens.css">
</head><body><main><section class="card"><h1>No such patient</h1>
<p>This patient does not exist or is not in your care.</p>
<p><a class="button" href="/">Back</a></p></section></main></body></html>"""


@router.get("/patients/{patient_id}")
async def patient_page(patient_id: str, request: Request) -> Response:
    who = await page_principal(request)
    if who is None:
        return RedirectResponse(f"/login?next=/patients/{patient_id}", status_code=303)
    if who.role is Role.PATIENT:
        return RedirectResponse("/me", status_code=303)
    try:
        async with unit_of_work(request.app.state.hub.sessions) as session:
            await require_patient(session, who, patient_id)
    except NotFound:
        return HTMLResponse(_NOT_FOUND, status_code=404)
    page = with_nav(_PAGE, who).replace("{{patient_id}}", html.escape(patient_id, quote=True))
    return HTMLResponse(render_page(page, await page_language(request, who)))


@router.get("/favicon.ico")
async def favicon() -> RedirectResponse:
    return RedirectResponse("/static/favicon.svg", status_code=301)
