"""The kiosk's local web app (Starlette): routes over the screens, the uplink in its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from telemed_core.errors import TelemedError
from telemedpoint_kiosk.runtime import Kiosk
from telemedpoint_kiosk.web.screens import SESSION_COOKIE, Screens

__all__ = ["SESSION_COOKIE", "create_kiosk_app"]
STATIC = Path(__file__).resolve().parent / "static"


def create_kiosk_app(kiosk: Kiosk) -> Starlette:
    """The web app over one kiosk; the kiosk starts (uplink) and closes with it."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await kiosk.start()
        try:
            yield
        finally:
            await kiosk.close()

    s = Screens(kiosk)
    post = ["POST"]
    routes = [
        Route("/login", s.login_page), Route("/login", s.login, methods=post),
        Route("/logout", s.logout, methods=post), Route("/lang/{lang}", s.set_lang),
        Route("/status", s.status), Route("/", s.home), Route("/patients", s.search),
        Route("/patients/new", s.register_page), Route("/patients/new", s.register, methods=post),
        Route("/patients/{pid}", s.patient), Route("/visits", s.start_visit, methods=post),
        Route("/visits/{vid}", s.visit_view),
        Route("/visits/{vid}/steps/{step}/measure", s.measure, methods=post),
        Route("/visits/{vid}/steps/{step}/manual", s.manual, methods=post),
        Route("/visits/{vid}/steps/{step}/skip", s.skip, methods=post),
        Route("/visits/{vid}/ecg", s.ecg, methods=post),
        Route("/visits/{vid}/ecg-progress", s.ecg_progress),
        Route("/visits/{vid}/alerts/{rule}/ack", s.acknowledge, methods=post),
        Route("/visits/{vid}/summary", s.summary),
        Route("/visits/{vid}/consult", s.consult_page),
        Route("/visits/{vid}/consult", s.consult, methods=post),
        Route("/visits/{vid}/finish", s.finish, methods=post),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]  # fmt: skip
    return Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={TelemedError: s.on_error}
    )
