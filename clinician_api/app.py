"""create_app(settings): the ASGI app that composes the server side."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from alerts.adherence.endpoints import build_router as schedules_router
from alerts.adherence.technical import TechnicalLimits
from alerts.dispatch.endpoints import make_router as dispatch_router
from alerts.dispatch.live import LiveDispatch
from alerts.dispatch.policy import DispatchPolicy
from alerts.dispatch.runtime import DispatchRuntime
from alerts.engine.consumer import AlertWorker
from alerts.episodes.endpoints import build_router as alerts_router
from alerts.notify.port import (
    LoggingSms,
    Notifier,
    ScreenNotifier,
    SmsNotifier,
    SmtpNotifier,
    SmtpSettings,
)
from alerts.policy.endpoints import build_router as policy_router
from clinician_api.admin.enrolment import router as enrolment_router
from clinician_api.admin.patient_search import router as patient_search_router
from clinician_api.admin.users import router as admin_users_router
from clinician_api.audit.endpoints import router as audit_router
from clinician_api.auth.account import router as account_router
from clinician_api.auth.endpoints import router as auth_router
from clinician_api.care_teams.endpoints import router as care_teams_router
from clinician_api.deps import authenticate_token, current_principal, get_session
from clinician_api.devices.endpoints import router as devices_router
from clinician_api.fhir_rest import outcome as fhir_outcome
from clinician_api.fhir_rest.flags import router as fhir_flags_router
from clinician_api.fhir_rest.search import router as fhir_search_router
from clinician_api.fhir_rest.subscription_push import SubscriptionHub
from clinician_api.fhir_rest.subscriptions import router as fhir_subscriptions_router
from clinician_api.fhir_rest.transaction import router as fhir_transaction_router
from clinician_api.kiosk.endpoints import router as kiosk_router
from clinician_api.limits import Limits
from clinician_api.monitor.endpoints import router as monitor_router
from clinician_api.monitor.fanout import MonitorFanout
from clinician_api.monitor.sparklines import router as sparklines_router
from clinician_api.patient_view.ecg import router as ecg_router
from clinician_api.patient_view.endpoints import router as patient_view_router
from clinician_api.patient_view.history import router as history_router
from clinician_api.patients.endpoints import router as patients_router
from clinician_api.reports.endpoints import router as reports_router
from clinician_api.request_log import RequestLog
from clinician_api.security_headers import SecurityHeaders
from clinician_api.settings import ServerSettings
from clinician_api.web.admin_page import router as admin_page_router
from clinician_api.web.docs import router as docs_router
from clinician_api.web.endpoints import WEB
from clinician_api.web.endpoints import router as web_router
from clinician_api.web.language import router as language_router
from clinician_api.web.patient_page import router as patient_page_router
from clinician_api.web.portal_page import router as portal_page_router
from patient_hub.accounts.security import ensure_signing_key
from patient_hub.bus.base import Bus
from patient_hub.bus.leases import Leases, MemoryLeases
from patient_hub.db import make_engine, unit_of_work
from patient_hub.ingest.endpoints import router as ingest_router
from patient_hub.processing.worker import LeaseTiming, SignalWorker
from patient_hub.runtime import HubContext
from telemed_core.values import utc_now

log = logging.getLogger(__name__)


def make_bus(settings: ServerSettings) -> Bus:
    """In-process bus by default; Redis Streams when a Redis URL is set."""
    if settings.redis_url:
        from patient_hub.bus.redis_streams import RedisBus

        return RedisBus(settings.redis_url, prefix=settings.bus_prefix)
    from patient_hub.bus.memory import MemoryBus

    return MemoryBus()


def make_leases(settings: ServerSettings) -> Leases:
    """Partition leases of the signal and alert workers: in-process by default, on Redis when set."""
    if settings.redis_url:
        from patient_hub.bus.redis_leases import RedisLeases

        return RedisLeases(settings.redis_url, prefix=settings.bus_prefix)
    return MemoryLeases()


def make_notifiers(settings: ServerSettings, bus: Bus) -> dict[str, Notifier]:
    """The notification channels: the patient's screens, SMS (logging gateway), and e-mail
    when an SMTP server is configured."""
    notifiers: dict[str, Notifier] = {
        "websocket": ScreenNotifier(bus),
        "sms": SmsNotifier(LoggingSms()),
    }
    if settings.smtp_host:
        notifiers["email"] = SmtpNotifier(
            SmtpSettings(
                settings.smtp_host, settings.smtp_port, settings.smtp_sender,
                settings.smtp_username, settings.smtp_password, settings.smtp_starttls,
            )
        )  # fmt: skip
    return notifiers


def dispatch_policy(settings: ServerSettings) -> DispatchPolicy:
    return DispatchPolicy(
        first_n=settings.dispatch_first_n,
        radius_m=settings.dispatch_radius_m,
        max_radius_m=settings.dispatch_max_radius_m,
        max_phases=settings.dispatch_max_phases,
        phase_s=settings.dispatch_phase_s,
        max_accept=settings.dispatch_max_accept,
        position_max_age_s=settings.dispatch_position_max_age_s,
    )


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    """RFC 9457 problem details."""
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None,
    )


async def with_signing_key(settings: ServerSettings, hub: HubContext) -> ServerSettings:
    """The settings with the token signing key: TELEMED_SECRET_KEY if given, else the key the
    cluster generated on its first start and keeps in its database."""
    if settings.secret_key:
        return settings
    async with unit_of_work(hub.sessions) as session:
        key = await ensure_signing_key(session, utc_now())
    return settings.model_copy(update={"secret_key": key})


def create_app(settings: ServerSettings) -> FastAPI:
    """Build the app; connections open in its lifespan and close with it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        bus = make_bus(settings)
        app.state.hub = HubContext.build(engine, bus)
        app.state.hub.start_checkpointer()
        app.state.settings = await with_signing_key(settings, app.state.hub)
        serves_api = settings.role in ("all", "api")
        if serves_api:
            app.state.fanout = MonitorFanout(bus)
            await app.state.fanout.start()
            app.state.fhir_subscriptions = SubscriptionHub(app.state.hub, settings.worker_name)
            await app.state.fhir_subscriptions.start()
            app.state.dispatch = DispatchRuntime(
                app.state.hub,
                dispatch_policy(settings),
                LiveDispatch(bus),
                settings.dispatch_tick_s,
            )
            await app.state.dispatch.start()
        stop = asyncio.Event()
        workers = []
        leases = make_leases(settings)
        timing = LeaseTiming(settings.worker_lease_s, settings.worker_lease_s / 5)
        if settings.role in ("all", "worker"):
            worker = SignalWorker(
                app.state.hub,
                settings.worker_name,
                ZoneInfo(settings.timezone),
                leases,
                timing=timing,
            )
            app.state.worker = worker
            workers.append(asyncio.create_task(worker.run(stop), name="signal-worker"))
        # Every process fires due alert timers (claimed once across processes); the workers
        # also consume readings and findings into episodes.
        alert_worker = AlertWorker(
            app.state.hub,
            settings.worker_name,
            timer_poll_s=settings.alert_timer_poll_s,
            consume=settings.role in ("all", "worker"),
            notifiers=make_notifiers(settings, bus),
            sweep_s=settings.alert_sweep_s,
            limits=TechnicalLimits(device_offline_s=settings.alert_device_offline_s),
            leases=leases,
            timing=timing,
        )
        app.state.alert_worker = alert_worker
        workers.append(asyncio.create_task(alert_worker.run(stop), name="alert-worker"))
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*workers, return_exceptions=True)
            if serves_api:
                await app.state.dispatch.stop()
                await app.state.fhir_subscriptions.stop()
                await app.state.fanout.stop()
            await leases.close()
            await bus.close()
            await app.state.hub.close()
            await engine.dispose()

    app = FastAPI(
        title="Telemed hub",
        version="0.1.0",
        description="Remote monitoring hub: ingest, readings, live monitoring.",
        lifespan=lifespan,
        docs_url=None,  # clinician_api/web/docs.py: offline assets, sign-in in production
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings

    fhir_outcome.install(app, _problem)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, object]:
        """Liveness: the process answers (with its role, node name and process id)."""
        return {"status": "ok", "role": settings.role, "node": settings.worker_name,
                "pid": os.getpid()}  # fmt: skip

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def prometheus_metrics() -> Response:
        """Prometheus text format: ingest, worker and bridge figures of this process."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/readyz", tags=["ops"], response_model=None)
    async def readyz() -> JSONResponse | dict[str, object]:
        """Readiness of this role: its database and bus answer; a worker has its leases."""
        hub: HubContext = app.state.hub
        try:
            async with hub.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            await hub.bus.ping()
        except Exception as exc:  # any failure means "not ready", and says which
            return _problem(503, "Not ready", f"{type(exc).__name__}: {exc}")
        body: dict[str, object] = {"status": "ready", "role": settings.role}
        worker = getattr(app.state, "worker", None)
        if worker is not None:
            if not worker.balanced:
                return _problem(503, "Not ready", "the signal worker has not joined its group yet")
            body["partitions"] = sorted(worker.held)
        alert_worker: AlertWorker | None = getattr(app.state, "alert_worker", None)
        if alert_worker is not None and alert_worker.consume:
            if not alert_worker.readings.balanced:
                return _problem(503, "Not ready", "the alert worker has not joined its group yet")
            body["alert_partitions"] = sorted(alert_worker.readings.held)
        return body

    if settings.role in ("all", "ingest"):
        app.include_router(ingest_router)
    if settings.role in ("all", "api"):
        app.include_router(auth_router)
        app.include_router(patients_router)
        app.include_router(monitor_router)
        app.include_router(sparklines_router)
        app.include_router(patient_view_router)
        app.include_router(history_router)
        app.include_router(reports_router)
        app.include_router(ecg_router)
        app.include_router(audit_router)
        app.include_router(care_teams_router)
        app.include_router(admin_users_router)
        app.include_router(enrolment_router)
        app.include_router(patient_search_router)
        app.include_router(devices_router)
        app.include_router(account_router)
        app.include_router(kiosk_router)
        app.include_router(alerts_router(get_session, current_principal))
        app.include_router(schedules_router(get_session, current_principal))
        app.include_router(policy_router(get_session, current_principal))
        app.include_router(web_router)
        app.include_router(patient_page_router)
        app.include_router(portal_page_router)
        app.include_router(admin_page_router)
        app.include_router(language_router)
        app.include_router(docs_router)
        app.include_router(fhir_transaction_router)
        app.include_router(fhir_subscriptions_router)
        app.include_router(fhir_search_router)
        app.include_router(fhir_flags_router)
        app.include_router(dispatch_router(current_principal, authenticate_token(app)))
        app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")
    app.add_middleware(Limits, settings=settings)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestLog)  # outermost: refusals by the limits get a request id too
    return app
