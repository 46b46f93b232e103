"""``telemed demo``: everything in one process, with the demo kiosk."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from device_bridge.simulator import SCENARIOS
from telemed_cli.commands.common import _scenario, _settings, console, errors
from telemed_cli.commands.serve import _serve
from telemed_cli.errors import explain


def demo(
    port: Annotated[int, typer.Option(help="port of the web screens and API")] = 8000,
    patients: Annotated[int, typer.Option(min=1, max=200)] = 6,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    database_url: Annotated[str, typer.Option()] = "sqlite:///var/demo.db",
    kiosk_port: Annotated[int, typer.Option(help="port of the village kiosk's screens")] = 8100,
    scenario: Annotated[
        str | None, typer.Option(help=f"demo-2 plays it from 30 s: {', '.join(SCENARIOS)}")
    ] = None,
) -> None:
    """Everything in one process: hub, screens, simulated patients, a telemedpoint kiosk with
    simulated devices, seeded demo accounts."""
    from patient_hub.db import make_engine, make_sessionmaker
    from telemed_cli.demo import DEFAULT_SCENARIOS, seed
    from telemed_cli.demo_dispatch import keep_phones_fresh
    from telemed_cli.simulate import prepare_scenario, run_bridges

    name = _scenario(scenario)

    settings = _settings(environment="demo", host=host, port=port, database_url=database_url)

    async def main() -> None:
        from clinician_api.migrate import upgrade_async

        await upgrade_async(settings.database_url)
        data = await seed(
            settings,
            patients,
            programme_of={"demo-2": "hypertension"} if name == "missed-measurement" else None,
        )
        background: list[asyncio.Task[Any]] = []  # held: the loop keeps only weak references

        async def ready(url: str) -> None:
            table = Table(title="Demo accounts (password: demo)")
            table.add_column("username")
            table.add_column("role")
            for account, _ in data.accounts:
                table.add_row(account, account)
            console.print(table)
            console.print(
                "[yellow]demo mode[/yellow]: development settings (cookies without Secure, "
                "open /docs, the weak password 'demo'): not for patient data",
                highlight=False,
            )
            console.print(f"Sign in:        [bold]{url}/login[/bold]", highlight=False)
            console.print(f"Group monitor:  [bold]{url}/monitor[/bold]", highlight=False)
            console.print(f"Responder page: [bold]{url}/respond[/bold]", highlight=False)
            console.print(f"Dispatch:       [bold]{url}/dispatch[/bold]", highlight=False)
            console.print(f"API docs:       [bold]{url}/docs[/bold]", highlight=False)
            hub = url.replace("0.0.0.0", "127.0.0.1")
            kiosk_url = await _demo_kiosk(hub, data.kiosk_token, host, kiosk_port)
            console.print(f"Kiosk (nurse):  [bold]{kiosk_url}[/bold]", highlight=False)
            console.print(f"TELEMED_READY {url}", highlight=False)
            # Some patients deteriorate now and then, so that alerts show on the screens; with
            # --scenario, demo-2 plays that one 30 s after the start.
            scenarios = {"demo-2": name} if name else dict(DEFAULT_SCENARIOS)
            start = 30 if name else None
            if name:
                await prepare_scenario(hub, "admin", "demo", ["demo-2"], name, 30)
            background.append(asyncio.create_task(
                run_bridges(
                    hub, data.bridges, seconds=None, outbox_dir=Path("var/demo-outbox"),
                    scenarios=scenarios, scenario_start_s=start,
                )
            ))  # fmt: skip
            # Simulated volunteers' phones keep reporting, so that offers can go out.
            engine = make_engine(settings.database_url)
            background.append(asyncio.create_task(keep_phones_fresh(make_sessionmaker(engine))))
            for task in background:
                task.add_done_callback(_say_if_failed)

        await _serve(settings, ready)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


def _say_if_failed(task: asyncio.Task[Any]) -> None:
    """A demo background part that stops says why (its simulated patients would go silent)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        errors.print(f"error: demo {task.get_name()} stopped: {explain(exc)}", markup=False)


async def _demo_kiosk(hub: str, token: str, host: str, port: int) -> str:
    """Start the demo telemedpoint's kiosk (simulated devices) in this process; its URL."""
    from telemed_cli.demo import KIOSK_ID, TELEMEDPOINT
    from telemedpoint_kiosk.hub_client import Enrolment
    from telemedpoint_kiosk.serve import serve_kiosk
    from telemedpoint_kiosk.settings import KioskSettings
    from telemedpoint_kiosk.setup import save_identity

    settings = KioskSettings(
        state_dir=Path("var/demo-kiosk"), host=host, port=port, simulate=True, sim_strip_wall_s=10.0
    )
    save_identity(settings, hub, Enrolment(KIOSK_ID, token, TELEMEDPOINT, "Village telemedpoint 1"))
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def on_ready(url: str) -> None:
        ready.set_result(url)

    asyncio.create_task(serve_kiosk(settings, on_ready))
    return await ready
