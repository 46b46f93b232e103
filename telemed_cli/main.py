"""The ``telemed`` command: the composition root. Imports are lazy inside each command so that
an edge install (bridge, kiosk) needs no server packages."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from device_bridge.simulator import SCENARIOS, scenario_name
from telemed_cli.alerts import alerts_app
from telemed_cli.bridge import bridge_app

app = typer.Typer(help="Telemed remote-monitoring platform.", no_args_is_help=True)
user_app = typer.Typer(help="Accounts.", no_args_is_help=True)
db_app = typer.Typer(help="Database.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(db_app, name="db")
app.add_typer(bridge_app, name="bridge")
app.add_typer(alerts_app, name="alerts")
console = Console()


def _settings(**overrides: Any) -> Any:
    from clinician_api.settings import ServerSettings

    return ServerSettings(**{k: v for k, v in overrides.items() if v is not None})


def _scenario(name: str | None) -> str | None:
    """The scenario's canonical name; an unknown one is a usage error."""
    if name is None:
        return None
    canonical = scenario_name(name)
    if canonical not in SCENARIOS:
        raise typer.BadParameter(f"unknown scenario {name!r}; one of {', '.join(SCENARIOS)}")
    return canonical


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


async def _serve(settings: Any, on_ready: Any = None) -> None:
    import uvicorn

    from clinician_api.app import create_app
    from clinician_api.migrate import upgrade_async

    await upgrade_async(settings.database_url)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        ws_max_size=2**24,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn has no event
        await asyncio.sleep(0.05)
    if server.started:
        port = server.servers[0].sockets[0].getsockname()[1]
        if on_ready is not None:
            await on_ready(f"http://{settings.host}:{port}")
    await task


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port (0 picks a free one)")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="sqlite:///path or postgresql://...")
    ] = None,
    redis_url: Annotated[str | None, typer.Option(help="redis://... to use Redis Streams")] = None,
    role: Annotated[
        str | None, typer.Option(help="all (default), api (ingest + screens) or worker (signal)")
    ] = None,
) -> None:
    """Run the hub and the clinician API (migrates the database first)."""
    settings = _settings(
        host=host, port=port, database_url=database_url, redis_url=redis_url, role=role
    )

    async def ready(url: str) -> None:
        console.print(f"telemed hub listening on [bold]{url}[/bold]", highlight=False)
        console.print(f"TELEMED_READY {url}", highlight=False, soft_wrap=True)

    asyncio.run(_serve(settings, ready))


@app.command()
def simulate(
    hub: Annotated[str, typer.Option(help="hub URL, e.g. http://127.0.0.1:8000")],
    patients: Annotated[int, typer.Option(min=1, max=10_000)] = 3,
    seconds: Annotated[
        float | None, typer.Option(help="stop after S s (default: run forever)")
    ] = None,
    admin_user: Annotated[str, typer.Option(envvar="TELEMED_ADMIN_USER")] = "admin",
    admin_password: Annotated[str, typer.Option(envvar="TELEMED_ADMIN_PASSWORD")] = "demo",
    ecg: Annotated[bool, typer.Option(help="stream simulated ECG chunks")] = True,
    outbox_dir: Annotated[
        Path | None, typer.Option(help="folder for the bridges' outboxes")
    ] = None,
    scenario: Annotated[
        str | None, typer.Option(help=f"every simulated patient plays it: {', '.join(SCENARIOS)}")
    ] = None,
    scenario_start: Annotated[int, typer.Option(min=0, help="seconds before it starts")] = 30,
) -> None:
    """Simulated bridges with simulated devices, over the real wire protocol and websockets."""
    from telemed_cli.simulate import enrol, prepare_scenario, run_bridges, scenario_programme

    name = _scenario(scenario)

    async def main() -> dict[str, int]:
        bridges = await enrol(hub, admin_user, admin_password, patients, scenario_programme(name))
        console.print(f"enrolled {len(bridges)} simulated bridges on {hub}")
        ids = [b.patient_id for b in bridges]
        await prepare_scenario(hub, admin_user, admin_password, ids, name, scenario_start)
        plays = {pid: name for pid in ids} if name else None
        return await run_bridges(
            hub, bridges, seconds=seconds, outbox_dir=outbox_dir, ecg=ecg,
            scenarios=plays, scenario_start_s=scenario_start,
        )  # fmt: skip

    try:
        produced = asyncio.run(main())
    except KeyboardInterrupt:
        return
    except Exception as exc:  # show the reason, not a traceback, to the operator
        _fail(f"{type(exc).__name__}: {exc}")
    console.print(f"produced {sum(produced.values())} items from {len(produced)} bridges")


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="port of the web screens and API")] = 8000,
    patients: Annotated[int, typer.Option(min=1, max=200)] = 6,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    database_url: Annotated[str, typer.Option()] = "sqlite:///var/demo.db",
    scenario: Annotated[
        str | None, typer.Option(help=f"demo-2 plays it from 30 s: {', '.join(SCENARIOS)}")
    ] = None,
) -> None:
    """Everything in one process: hub, screens and simulated patients, seeded demo accounts."""
    from telemed_cli.demo import DEFAULT_SCENARIOS, seed
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

        async def ready(url: str) -> None:
            table = Table(title="Demo accounts (password: demo)")
            table.add_column("username")
            table.add_column("role")
            for name, _ in data.accounts:
                table.add_row(name, name)
            console.print(table)
            console.print(f"Sign in:        [bold]{url}/login[/bold]", highlight=False)
            console.print(f"Group monitor:  [bold]{url}/monitor[/bold]", highlight=False)
            console.print(f"API docs:       [bold]{url}/docs[/bold]", highlight=False)
            console.print(f"TELEMED_READY {url}", highlight=False)
            hub = url.replace("0.0.0.0", "127.0.0.1")
            # Some patients deteriorate now and then, so that alerts show on the screens; with
            # --scenario, demo-2 plays that one 30 s after the start.
            scenarios = {"demo-2": name} if name else dict(DEFAULT_SCENARIOS)
            start = 30 if name else None
            if name:
                await prepare_scenario(hub, "admin", "demo", ["demo-2"], name, 30)
            asyncio.create_task(
                run_bridges(
                    hub, data.bridges, seconds=None, outbox_dir=Path("var/demo-outbox"),
                    scenarios=scenarios, scenario_start_s=start,
                )
            )  # fmt: skip

        await _serve(settings, ready)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


@user_app.command("add")
def user_add(
    name: str,
    role: Annotated[
        str, typer.Option(help="patient, nurse, cardiologist, responder, dispatcher, admin")
    ],
    patient: Annotated[str | None, typer.Option(help="patient id (role patient)")] = None,
    telemedpoint: Annotated[str | None, typer.Option(help="telemedpoint id (role nurse)")] = None,
    database_url: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Add an account; the password is read from standard input."""
    from patient_hub.accounts.service import create_user
    from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
    from telemed_core.errors import TelemedError

    settings = _settings(database_url=database_url)
    password = sys.stdin.readline().rstrip("\n")

    async def main() -> str:
        from clinician_api.migrate import upgrade_async

        await upgrade_async(settings.database_url)
        engine = make_engine(settings.database_url)
        try:
            async with unit_of_work(make_sessionmaker(engine)) as session:
                user = await create_user(
                    session, name, password, role, patient_id=patient, telemedpoint_id=telemedpoint
                )
                return user.id
        finally:
            await engine.dispose()

    try:
        user_id = asyncio.run(main())
    except TelemedError as exc:
        _fail(exc.message)
    console.print(f"added {name} ({role}) as {user_id}")


@db_app.command("upgrade")
def db_upgrade(database_url: Annotated[str | None, typer.Option()] = None) -> None:
    """Apply the Alembic migrations to the database."""
    from clinician_api.migrate import upgrade

    settings = _settings(database_url=database_url)
    upgrade(settings.database_url)
    console.print("database is at the latest schema")


if __name__ == "__main__":
    app()
