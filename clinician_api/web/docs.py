"""API documentation pages (Swagger UI, ReDoc) from the project's own static files, never a
CDN; in production they and the OpenAPI schema need a signed-in user."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import JSONResponse, RedirectResponse, Response

from clinician_api.deps import COOKIE_NAME, principal_from_token
from patient_hub.db import unit_of_work
from telemed_core.errors import TelemedError

VENDOR = "/static/vendor"
router = APIRouter(include_in_schema=False)


async def _signed_in(request: Request) -> bool:
    settings = request.app.state.settings
    if settings.environment == "demo":
        return True
    bearer = request.headers.get("authorization", "")
    token = bearer[7:] if bearer.lower().startswith("bearer ") else request.cookies.get(COOKIE_NAME)
    try:
        async with unit_of_work(request.app.state.hub.sessions) as session:
            await principal_from_token(
                session, settings.secret_key, token, idle_timeout_s=settings.idle_timeout_s
            )
    except TelemedError:
        return False
    return True


def _to_login(page: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={page}", status_code=303)


@router.get("/openapi.json")
async def openapi_schema(request: Request) -> Response:
    if not await _signed_in(request):
        return JSONResponse({"detail": "sign in first"}, status_code=401)
    app: FastAPI = request.app
    return JSONResponse(app.openapi())


#: The documentation pages start their vendored viewers with a small inline script (FastAPI's
#: templates) and ReDoc makes blob workers: their own policy, still nothing from another origin.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'"
)


def _with_docs_policy(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


@router.get("/docs")
async def swagger_ui(request: Request) -> Response:
    if not await _signed_in(request):
        return _to_login("/docs")
    page = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Telemed hub · API",
        swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
    )
    return _with_docs_policy(page)


@router.get("/redoc")
async def redoc(request: Request) -> Response:
    if not await _signed_in(request):
        return _to_login("/redoc")
    page = get_redoc_html(
        openapi_url="/openapi.json",
        title="Telemed hub · API",
        redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
        with_google_fonts=False,
    )
    return _with_docs_policy(page)
