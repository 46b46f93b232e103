"""``/admin`` (accounts, care teams, enrolment; admins only) and ``/account`` (everyone's own
password and sessions)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from clinician_api.web.endpoints import page
from clinician_api.web.session import page_principal
from patient_hub.accounts.models import Role

router = APIRouter(include_in_schema=False)


@router.get("/admin")
async def admin_page(request: Request) -> Response:
    who = await page_principal(request)
    if who is not None and who.role is not Role.ADMIN:
        return RedirectResponse("/", status_code=303)
    return await page(request, "admin.html", "/admin")


@router.get("/account")
async def account_page(request: Request) -> Response:
    return await page(request, "account.html", "/account")
