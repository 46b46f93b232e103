"""The kiosk's screens: one small handler per page or form, over one Kiosk.

Forms post and redirect (a reload never measures twice); bad input re-renders the form with a
4xx status and the reason in the screen's language, and changes nothing.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from telemed_core.errors import NotAuthenticated, TelemedError
from telemed_core.values import utc_now
from telemedpoint_kiosk.devices import DeviceProblem
from telemedpoint_kiosk.runtime import Kiosk
from telemedpoint_kiosk.store import Visit
from telemedpoint_kiosk.visits import MANUAL_DEVICE
from telemedpoint_kiosk.web import pages
from telemedpoint_kiosk.web.i18n import localize, t

SESSION_COOKIE = "kiosk_session"
PROBLEMS = ("disconnected", "timeout", "absent")
NurseHandler = Callable[["Screens", Request, str], Awaitable[Response]]


def signed_in(handler: NurseHandler) -> Callable[[Screens, Request], Awaitable[Response]]:
    """Only for a set-up kiosk and a signed-in nurse (else the set-up note or the sign-in)."""

    @functools.wraps(handler)
    async def wrapped(self: Screens, request: Request) -> Response:
        if "bridge_id" not in self.kiosk.identity:
            body = f"<p>{t(self.lang(request), 'setup_needed')}</p>"
            return self.html(request, None, "title", body, 503)
        nurse = self.nurse_of(request)
        if nurse is None:
            return RedirectResponse("/login", 303)
        return await handler(self, request, nurse)

    return wrapped


async def _form(request: Request) -> dict[str, str]:
    data = await request.form()
    return {k: v for k, v in data.items() if isinstance(v, str)}


def _to_visit(visit: Visit, suffix: str = "") -> RedirectResponse:
    return RedirectResponse(f"/visits/{visit.id}{suffix}", 303)


class Screens:
    """Request handlers of the kiosk's web app."""

    def __init__(self, kiosk: Kiosk) -> None:
        self.kiosk = kiosk

    # -- helpers ---------------------------------------------------------------------------

    def lang(self, request: Request) -> str:
        chosen = request.cookies.get("lang", self.kiosk.settings.language)
        return chosen if chosen in ("cs", "en") else "cs"

    def frame(self, request: Request, nurse: str | None) -> pages.Frame:
        point = self.kiosk.identity.get("telemedpoint_name", "")
        return pages.Frame(self.lang(request), nurse, self.kiosk.status(), point)

    def html(
        self,
        request: Request,
        nurse: str | None,
        title_key: str,
        body: str,
        status: int = 200,
        **kw: Any,
    ) -> HTMLResponse:
        f = self.frame(request, nurse)
        return HTMLResponse(pages.page(f, t(f.lang, title_key), body, **kw), status_code=status)

    def failed(
        self, request: Request, nurse: str | None, title_key: str, body: str, exc: TelemedError
    ) -> HTMLResponse:
        error = localize(self.lang(request), exc.message)
        return self.html(request, nurse, title_key, body, exc.status_code, error=error)

    def nurse_of(self, request: Request) -> str | None:
        sid = request.cookies.get(SESSION_COOKIE)
        return self.kiosk.store.session_user(sid, utc_now()) if sid else None

    def visit_of(self, request: Request) -> Visit:
        return self.kiosk.visits.visit(request.path_params["vid"])

    async def on_error(self, request: Request, exc: Exception) -> Response:
        """A domain error no handler caught: its status and message, in the screen's language."""
        assert isinstance(exc, TelemedError)
        if isinstance(exc, NotAuthenticated):
            return RedirectResponse("/login", 303)
        return self.failed(request, self.nurse_of(request), "error", "", exc)

    # -- sign-in, language, status ---------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        return self.html(request, None, "sign_in", pages.login(self.frame(request, None)))

    async def login(self, request: Request) -> Response:
        data = await _form(request)
        try:
            sid = await self.kiosk.sign_in(data.get("username", ""), data.get("password", ""))
        except TelemedError as exc:
            return self.failed(
                request, None, "sign_in", pages.login(self.frame(request, None)), exc
            )
        response = RedirectResponse("/", 303)
        response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="strict")
        return response

    async def logout(self, request: Request) -> Response:
        sid = request.cookies.get(SESSION_COOKIE)
        if sid:
            self.kiosk.store.end_session(sid)
        response = RedirectResponse("/login", 303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    async def set_lang(self, request: Request) -> Response:
        chosen = request.path_params["lang"]
        response = RedirectResponse(request.headers.get("referer") or "/", 303)
        if chosen in ("cs", "en"):
            response.set_cookie("lang", chosen, samesite="strict")
        return response

    async def status(self, request: Request) -> Response:
        s, lang = self.kiosk.status(), self.lang(request)
        last = pages.local_time(s.last_sync_at) if s.last_sync_at else t(lang, "never")
        return JSONResponse(
            {
                "link_state": s.link_state,
                "link_text": t(lang, s.link_state),
                "unsent": s.unsent,
                "last_sync": last,
            }
        )

    # -- patients --------------------------------------------------------------------------

    @signed_in
    async def home(self, request: Request, nurse: str) -> Response:
        store = self.kiosk.store
        opened = [(v, store.patient(v.patient_id)) for v in store.open_visits()]
        return self.html(
            request, nurse, "find_patient", pages.home(self.frame(request, nurse), opened)
        )

    @signed_in
    async def search(self, request: Request, nurse: str) -> Response:
        query = request.query_params.get("q", "")
        found = self.kiosk.store.find_patients(query) if query.strip() else []
        body = pages.search(self.frame(request, nurse), query, found)
        return self.html(request, nurse, "find_patient", body)

    @signed_in
    async def register_page(self, request: Request, nurse: str) -> Response:
        return self.html(
            request, nurse, "register_new", pages.register(self.frame(request, nurse), {})
        )

    @signed_in
    async def register(self, request: Request, nurse: str) -> Response:
        data = await _form(request)
        try:
            record = self.kiosk.visits.register(data, nurse)
        except TelemedError as exc:
            body = pages.register(self.frame(request, nurse), data)
            return self.failed(request, nurse, "register_new", body, exc)
        return RedirectResponse(f"/patients/{quote(record.id)}", 303)

    @signed_in
    async def patient(self, request: Request, nurse: str) -> Response:
        record = self.kiosk.store.patient(request.path_params["pid"])
        if record is None:
            error = t(self.lang(request), "no_patient")
            return self.html(request, nurse, "find_patient", "", 404, error=error)
        return self.html(
            request, nurse, "start_visit", pages.patient(self.frame(request, nurse), record)
        )

    # -- the visit -------------------------------------------------------------------------

    @signed_in
    async def start_visit(self, request: Request, nurse: str) -> Response:
        data = await request.form()
        symptoms = [s for s in data.getlist("symptoms") if isinstance(s, str)]
        patient_id, protocol = str(data.get("patient_id", "")), str(data.get("protocol", ""))
        try:
            visit = self.kiosk.visits.start(patient_id, protocol, symptoms, nurse)
        except TelemedError as exc:
            return self.failed(request, nurse, "start_visit", "", exc)
        return _to_visit(visit)

    def render_visit(
        self,
        request: Request,
        nurse: str,
        visit: Visit,
        exc: TelemedError | None = None,
        typed: dict[str, str] | None = None,
    ) -> Response:
        f = self.frame(request, nurse)
        record = self.kiosk.store.patient(visit.patient_id)
        assert record is not None  # a visit is only started for a stored patient
        problem = request.query_params.get("problem", "")
        problem_text = t(f.lang, f"problem_{problem}") if problem in PROBLEMS else ""
        task = self.kiosk.ecg_tasks.get(visit.id)
        progress = (self.kiosk.devices.ecg_progress() or 0.0) if task and not task.done() else None
        steps, alerts = self.kiosk.visits.steps(visit), self.kiosk.store.alerts(visit.id)
        body = pages.visit_page(
            f,
            visit,
            record,
            steps,
            alerts,
            problem=problem_text,
            ecg_progress=progress,
            typed=typed,
        )
        if exc is not None:
            return self.failed(request, nurse, visit.protocol, body, exc)
        return self.html(request, nurse, visit.protocol, body)

    @signed_in
    async def visit_view(self, request: Request, nurse: str) -> Response:
        return self.render_visit(request, nurse, self.visit_of(request))

    @signed_in
    async def measure(self, request: Request, nurse: str) -> Response:
        visit = self.visit_of(request)
        try:
            await self.kiosk.visits.measure(visit, request.path_params["step"])
        except DeviceProblem as problem:
            return _to_visit(visit, f"?problem={problem.code}")
        except TelemedError as exc:
            return self.render_visit(request, nurse, visit, exc)
        return _to_visit(visit)

    @signed_in
    async def manual(self, request: Request, nurse: str) -> Response:
        visit, typed = self.visit_of(request), await _form(request)
        try:
            self.kiosk.visits.enter_manually(visit, request.path_params["step"], typed)
        except TelemedError as exc:
            return self.render_visit(request, nurse, visit, exc, typed)
        return _to_visit(visit)

    @signed_in
    async def skip(self, request: Request, nurse: str) -> Response:
        visit = self.visit_of(request)
        reason = (await _form(request)).get("reason", "")
        try:
            self.kiosk.visits.skip(visit, request.path_params["step"], reason)
        except TelemedError as exc:
            return self.render_visit(request, nurse, visit, exc)
        return _to_visit(visit)

    @signed_in
    async def ecg(self, request: Request, nurse: str) -> Response:
        """Start recording the strip in the background; the page follows its progress."""
        visit = self.visit_of(request)
        running = self.kiosk.ecg_tasks.get(visit.id)
        if running is None or running.done():
            task = asyncio.create_task(self.kiosk.visits.record_ecg(visit))
            self.kiosk.ecg_tasks[visit.id] = task
        return _to_visit(visit)

    @signed_in
    async def ecg_progress(self, request: Request, nurse: str) -> Response:
        task = self.kiosk.ecg_tasks.get(request.path_params["vid"])
        running = task is not None and not task.done()
        progress = self.kiosk.devices.ecg_progress() if running else None
        return JSONResponse({"running": running, "progress": progress})

    @signed_in
    async def acknowledge(self, request: Request, nurse: str) -> Response:
        visit = self.visit_of(request)
        action = (await _form(request)).get("action", "")
        self.kiosk.visits.acknowledge(visit, request.path_params["rule"], f"{action} ({nurse})")
        return _to_visit(visit)

    # -- summary, consult, the end ---------------------------------------------------------

    def summary_text(self, visit: Visit) -> str:
        """The visit as plain text, attached to a consult request."""
        store = self.kiosk.store
        lines = [
            f"{m.step}: {m.values} ({'manual' if m.device_id == MANUAL_DEVICE else 'device'})"
            for m in store.measurements(visit.id)
            if m.usable
        ]
        lines += [f"alert {a.rule}: {a.message} ack={a.action}" for a in store.alerts(visit.id)]
        return "\n".join(lines)

    @signed_in
    async def summary(self, request: Request, nurse: str) -> Response:
        visit, store = self.visit_of(request), self.kiosk.store
        record = store.patient(visit.patient_id)
        assert record is not None  # a visit is only started for a stored patient
        steps = self.kiosk.visits.steps(visit)
        f = self.frame(request, nurse)
        body = pages.summary(
            f, visit, record, steps, store.alerts(visit.id), store.consults(visit.id)
        )
        return self.html(request, nurse, "summary", body)

    @signed_in
    async def consult_page(self, request: Request, nurse: str) -> Response:
        body = pages.consult(self.frame(request, nurse), self.visit_of(request), {})
        return self.html(request, nurse, "consult", body)

    @signed_in
    async def consult(self, request: Request, nurse: str) -> Response:
        visit, data = self.visit_of(request), await _form(request)
        try:
            self.kiosk.visits.request_consult(visit, data, nurse, self.summary_text(visit))
        except TelemedError as exc:
            body = pages.consult(self.frame(request, nurse), visit, data)
            return self.failed(request, nurse, "consult", body, exc)
        return _to_visit(visit, "/summary")

    @signed_in
    async def finish(self, request: Request, nurse: str) -> Response:
        visit = self.visit_of(request)
        self.kiosk.visits.finish(visit)
        return _to_visit(visit, "/summary")
