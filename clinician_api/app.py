"""create_app(settings): the ASGI app that composes the server side."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from alerts.adherence.endpoints import build_router as schedules_router
from alerts.adherence.technical import TechnicalLimits
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
from clinician_api.auth.endpoints import router as auth_router
from clinician_api.deps import current_principal, get_session
from clinician_api.fhir_rest import outcome as fhir_outcome
from clinician_api.fhir_rest.flags import router as fhir_flags_router
from clinician_api.fhir_rest.search import router as fhir_search_router
from clinician_api.fhir_rest.subscriptions import SubscriptionHub
from clinician_api.fhir_rest.subscriptions import router as fhir_subscriptions_router
from clinician_api.fhir_rest.transaction import router as fhir_transaction_router
from clinician_api.monitor.endpoints import router as monitor_router
from clinician_api.monitor.fanout import MonitorFanout
from clinician_api.patients.endpoints import router as patients_router
from clinician_api.settings import ServerSettings
from clinician_api.web.endpoints import WEB
from clinician_api.web.endpoints import router as web_router
from patient_hub.bus.base import Bus
from patient_hub.db import make_engine
from patient_hub.ingest.endpoints import router as ingest_router
from patient_hub.processing.worker import SignalWorker
from patient_hub.runtime import HubContext

log = logging.getLogger(__name__)


def make_bus(settings: ServerSettings) -> Bus:
    """In-process bus by default; Redis Streams when a Redis URL is set."""
    if settings.redis_url:
        from patient_hub.bus.redis_streams import RedisBus

        return RedisBus(settings.redis_url, prefix=settings.bus_prefix)
    from patient_hub.bus.memory import MemoryBus

    return MemoryBus()


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


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    """RFC 9457 problem details."""
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None,
    )


def create_app(settings: ServerSettings) -> FastAPI:
    """Build the app; connections open in its lifespan and close with it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        bus = make_bus(settings)
        app.state.hub = HubContext.build(engine, bus)
        app.state.fanout = MonitorFanout(bus)
        await app.state.fanout.start()
        app.state.fhir_subscriptions = SubscriptionHub(
            app.state.hub, settings.worker_name, number_events=settings.role in ("all", "api")
        )
        await app.state.fhir_subscriptions.start()
        stop = asyncio.Event()
        workers = []
        if settings.role in ("all", "worker"):
            worker = SignalWorker(app.state.hub, settings.worker_name, ZoneInfo(settings.timezone))
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
        )
        app.state.alert_worker = alert_worker
        workers.append(asyncio.create_task(alert_worker.run(stop), name="alert-worker"))
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*workers, return_exceptions=True)
            await app.state.fhir_subscriptions.stop()
            await app.state.fanout.stop()
            await bus.close()
            await engine.dispose()

    app = FastAPI(
        title="Telemed hub",
        version="0.1.0",
        description="Remote monitoring hub: ingest, readings, live monitoring.",
        lifespan=lifespan,
    )
    app.state.settings = settings

    fhir_outcome.install(app, _problem)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(auth_router)
    app.include_router(patients_router)
    app.include_router(monitor_router)
    app.include_router(alerts_router(get_session, current_principal))
    app.include_router(schedules_router(get_session, current_principal))
    app.include_router(policy_router(get_session, current_principal))
    app.include_router(ingest_router)
    app.include_router(web_router)
    app.include_router(fhir_transaction_router)
    app.include_router(fhir_subscriptions_router)
    app.include_router(fhir_search_router)
    app.include_router(fhir_flags_router)
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")
    return app
