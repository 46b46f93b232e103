"""``telemed serve``: the hub and the clinician API on a socket bound here."""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
from typing import Annotated, Any

import typer

from telemed_cli.commands.common import DatabaseUrl, _settings, console
from telemed_cli.errors import redact


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
#: The cyclic collector's thresholds once serving (CPython's default: 700, 10, 10).
GC_THRESHOLDS = (20_000, 20, 20)


def tune_gc() -> None:
    """Keep the cyclic garbage collector off the hot path of a started server.

    Ingest allocates a few objects per reading, so CPython's default thresholds ran a young
    collection every few hundred readings and a full one every few seconds, each full one
    walking every object of the process (the libraries' modules, numba's and SQLAlchemy's
    caches and the bus's recent messages): measured in the hub during
    ``bench/bench_ingest.py``, 1.1-1.9 s of collector time against 3-4 s of CPU, and pauses
    of 0.1-0.2 s that an alert waits through. What exists once the server has started lives as
    long as the process, so it is frozen out of every collection (``gc.freeze``), and the
    thresholds are raised so that young collections are rarer and full ones exceptional;
    reference counting still frees everything that is not a cycle at once.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


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
        tune_gc()
        port = sock.getsockname()[1]
        if on_ready is not None:
            await on_ready(f"http://{settings.host}:{port}")
    await task


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
