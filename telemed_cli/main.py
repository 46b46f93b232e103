"""The ``telemed`` command: the composition root. Imports are lazy inside each command so that
an edge install (bridge, kiosk) needs no server packages."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from device_bridge.simulator import SCENARIOS, scenario_name
from telemed_cli.alerts import alerts_app
from telemed_cli.audit import audit_app
from telemed_cli.bridge import bridge_app
from telemed_cli.care_team import care_team_app
from telemed_cli.errors import explain, redact
from telemed_cli.kiosk import kiosk_app
from telemed_cli.users import user_app

app = typer.Typer(
    help="Telemed remote-monitoring platform. Settings come from options or TELEMED_* "
    "environment variables (shown with each option).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # a local may hold a password or a hash
)
db_app = typer.Typer(help="Database.", no_args_is_help=True)
aed_app = typer.Typer(help="The AED registry of first-responder dispatch.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(db_app, name="db")
app.add_typer(aed_app, name="aed")
app.add_typer(bridge_app, name="bridge")
app.add_typer(alerts_app, name="alerts")
app.add_typer(audit_app, name="audit")
app.add_typer(care_team_app, name="care-team")
app.add_typer(kiosk_app, name="kiosk")
console = Console()
errors = Console(stderr=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        help="sqlite:///path or postgresql://...",
        envvar="TELEMED_DATABASE_URL",
        show_default="sqlite:///var/telemed.db",
    ),
]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"telemed {version('telemed')}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version")
    ] = False,
) -> None:
    """Telemed remote-monitoring platform."""


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
    errors.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def listen_socket(host: str, port: int) -> socket.socket:
    """Bind the listening socket here, so that a busy port is an OSError we can explain
    (uvicorn would log it and call sys.exit)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


#: Open connections (monitor websockets) get this long to close on SIGINT/SIGTERM.
GRACEFUL_SHUTDOWN_S = 3


async def _serve(settings: Any, on_ready: Any = None) -> None:
    import uvicorn

    from clinician_api.app import create_app
    from clinician_api.migrate import upgrade_async
    from patient_hub import logs

    logs.configure(settings.role, settings.worker_name, settings.log_level)
    sock = listen_socket(settings.host, settings.port)
    await upgrade_async(settings.database_url)
    config = uvicorn.Config(
        create_app(settings),
        log_level=settings.log_level.lower(),
        log_config=None,  # our JSON lines (patient_hub/logs.py), not uvicorn's format
        access_log=False,  # clinician_api/request_log.py logs each request, without its query
        ws_max_size=2**24,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn has no event
        await asyncio.sleep(0.05)
    if server.started:
        port = sock.getsockname()[1]
        if on_ready is not None:
            await on_ready(f"http://{settings.host}:{port}")
    await task


@app.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option(
            help="address to listen on (0.0.0.0: every interface, behind a TLS proxy)",
            envvar="TELEMED_HOST",
            show_default="127.0.0.1",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="port (0 picks a free one)", envvar="TELEMED_PORT", show_default="8000"),
    ] = None,
    database_url: DatabaseUrl = None,
    redis_url: Annotated[
        str | None,
        typer.Option(help="redis://... to use Redis Streams", envvar="TELEMED_REDIS_URL"),
    ] = None,
    role: Annotated[
        str | None,
        typer.Option(
            help="all (default), ingest (bridges), api (REST, FHIR, screens), worker (signal)",
            envvar="TELEMED_ROLE",
            show_default="all",
        ),
    ] = None,
) -> None:
    """Run the hub and the clinician API (migrates the database first). Production mode:
    the token signing key is generated on first start and kept in the database."""
    settings = _settings(
        host=host, port=port, database_url=database_url, redis_url=redis_url, role=role
    )

    async def ready(url: str) -> None:
        console.print(f"telemed hub listening on [bold]{url}[/bold]", highlight=False)
        console.print(
            f"{settings.environment} mode, database {redact(settings.database_url)}",
            highlight=False,
        )
        console.print(f"TELEMED_READY {url}", highlight=False, soft_wrap=True)

    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with _interrupt_quietly():
        asyncio.run(_serve(settings, ready))


@app.command()
def cluster(
    ingest: Annotated[int, typer.Option(min=1, max=32, help="ingest nodes (bridges)")] = 1,
    workers: Annotated[int, typer.Option(min=1, max=32, help="signal workers")] = 2,
    api: Annotated[int, typer.Option(min=1, max=32, help="API/screen nodes")] = 2,
    host: Annotated[str, typer.Option(help="address the nodes listen on")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="first port of ingest then API nodes (0: any free ports)")
    ] = 8000,
    database_url: Annotated[str | None, typer.Option(help="postgresql://...")] = None,
    redis_url: Annotated[str | None, typer.Option(help="redis://...")] = None,
) -> None:
    """A local scale-out cluster: ingest, worker and API nodes sharing PostgreSQL and Redis."""
    from telemed_cli.cluster import node_env, plan, supervise

    settings = _settings(database_url=database_url, redis_url=redis_url)
    if not settings.database_url.startswith(("postgresql://", "postgres://")):
        _fail("a cluster shares one database: set --database-url postgresql://... "
              "(or TELEMED_DATABASE_URL)")  # fmt: skip
    if not settings.redis_url:
        _fail("a cluster shares one bus: set --redis-url redis://... (or TELEMED_REDIS_URL)")
    nodes = plan(ingest, workers, api, port)
    env = node_env(settings.database_url, settings.redis_url, settings.bus_prefix)

    async def main() -> None:
        from clinician_api.migrate import upgrade_async

        await upgrade_async(settings.database_url)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        def say(text: str) -> None:  # "[ingest-1] ..." is the node's name, not rich markup
            console.print(text, markup=False, highlight=False, soft_wrap=True)

        running = [asyncio.create_task(supervise(n, env, host, stop, say)) for n in nodes]
        async with asyncio.timeout(120):
            await asyncio.gather(*(n.ready.wait() for n in nodes))
        table = Table(title="telemed cluster")
        for column in ("node", "role", "url"):
            table.add_column(column)
        for n in nodes:
            table.add_row(n.name, n.role, n.url)
            console.print(
                f"TELEMED_NODE {n.name} {n.role} {n.url}", highlight=False, soft_wrap=True
            )
        console.print(table)
        console.print("TELEMED_CLUSTER_READY", highlight=False)
        await asyncio.gather(*running)

    asyncio.run(main())


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
    api: Annotated[
        str | None, typer.Option(help="API node for enrolment, when not the --hub node")
    ] = None,
    remove: Annotated[
        bool, typer.Option("--remove", help="delete the simulated patients (sim-*) and their data")
    ] = False,
    scenario: Annotated[
        str | None, typer.Option(help=f"every simulated patient plays it: {', '.join(SCENARIOS)}")
    ] = None,
    scenario_start: Annotated[int, typer.Option(min=0, help="seconds before it starts")] = 30,
) -> None:
    """Simulated bridges with simulated devices, over the real wire protocol and websockets.
    Simulated patients are test data (HTEST); --remove deletes them from the hub."""
    from telemed_cli.simulate import enrol, prepare_scenario, run_bridges, scenario_programme

    name = _scenario(scenario)

    if remove:
        _remove_simulated(hub, admin_user, admin_password)
        return

    async def main() -> dict[str, int]:
        api_url = api or hub
        bridges = await enrol(
            api_url, admin_user, admin_password, patients, scenario_programme(name)
        )
        console.print(f"enrolled {len(bridges)} simulated bridges on {hub}")
        ids = [b.patient_id for b in bridges]
        await prepare_scenario(api_url, admin_user, admin_password, ids, name, scenario_start)
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
        _fail(explain(exc))
    console.print(f"produced {sum(produced.values())} items from {len(produced)} bridges")


def _remove_simulated(hub: str, admin_user: str, admin_password: str) -> None:
    from telemed_cli.simulate import remove

    try:
        result = asyncio.run(remove(hub, admin_user, admin_password))
    except Exception as exc:  # show the reason, not a traceback, to the operator
        _fail(explain(exc))
    rows = sum(result["rows"].values())
    console.print(
        f"removed {result['patients']} simulated patients and {rows} rows from {hub}",
        highlight=False,
    )


@app.command()
def loadtest(
    patients: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    seconds: Annotated[float, typer.Option(min=1, help="simulated seconds of streaming")] = 30,
    hub: Annotated[
        str | None, typer.Option(help="measure a running hub (default: start the embedded one)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Simulated patients against a platform: throughput, latency, memory."""
    from telemed_cli.loadtest import run

    try:
        report = asyncio.run(run(patients, seconds, hub))
    except Exception as exc:  # show the reason, not a traceback, to the operator
        _fail(f"{type(exc).__name__}: {exc}")
    if as_json:
        print(json.dumps(report))
        return
    table = Table(title="telemed loadtest")
    table.add_column("figure")
    table.add_column("value")
    for key, value in report.items():
        table.add_row(key, str(value))
    console.print(table)


@app.command()
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


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Apply the Alembic migrations to the database; says which database and what changed."""
    from clinician_api.migrate import current_revision, head_revision, upgrade

    settings = _settings(database_url=database_url)
    where = redact(settings.database_url)
    before = asyncio.run(current_revision(settings.database_url))
    upgrade(settings.database_url)
    after = asyncio.run(current_revision(settings.database_url))
    if before == after:
        console.print(
            f"{where}: already at the latest schema ({after})", highlight=False, soft_wrap=True
        )
    else:
        console.print(
            f"{where}: migrated from {before or 'an empty database'} to {after} "
            f"(head {head_revision()})",
            highlight=False,
            soft_wrap=True,
        )


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """uvicorn handles SIGTERM during serve (a graceful stop), then raises it again: that
    second one ends the process with status 0 rather than "killed by SIGTERM"."""
    raise SystemExit(0)


class _interrupt_quietly:  # noqa: N801 - used as a statement, like contextlib's helpers
    """Ctrl-C ends a server with its own messages, not a KeyboardInterrupt traceback."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: object, tb: object) -> bool:
        return kind is KeyboardInterrupt


def main() -> None:
    """Console entry point: expected failures become one line on stderr and exit status 1."""
    try:
        app()
    except Exception as exc:
        errors.print(f"error: {explain(exc)}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)


@aed_app.command("import")
def aed_import(
    file: Annotated[Path, typer.Argument(help="CSV or GeoJSON (.geojson/.json)")],
    timezone: Annotated[str, typer.Option(help="IANA zone of the access hours")] = "Europe/Prague",
    database_url: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Import or update AEDs: id, position, address, access hours, notes. All or nothing."""
    from telemed_cli.aeds import import_file
    from telemed_core.errors import TelemedError

    settings = _settings(database_url=database_url)
    try:
        text = file.read_text(encoding="utf-8-sig")
        count = asyncio.run(import_file(settings.database_url, text, file.name, timezone))
    except (TelemedError, OSError) as exc:
        _fail(getattr(exc, "message", None) or str(exc))
    console.print(f"imported {count} AEDs from {file}")


if __name__ == "__main__":
    main()
