"""Private Redis and PostgreSQL servers on loopback ports of their own, and free ports."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def two_free_ports() -> int:
    """A port p with p and p + 1 free (nodes that keep their ports on restart)."""
    for _ in range(50):
        port = random.randint(20_000, 60_000)
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")


class PrivateRedis:
    """redis-server on a loopback port of its own, data (AOF) in a temp folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.folder), "--appendonly", "yes", "--save", "",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        async with asyncio.timeout(10):
            while True:
                with contextlib.suppress(OSError):
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    writer.close()
                    return
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()  # SIGTERM: Redis writes its AOF and exits
            await asyncio.wait_for(self.proc.wait(), 10)


def as_postgres(*args: str) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the ``postgres`` account then."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


def postgres_binaries() -> bool:
    return (PG_BIN / "initdb").exists() and (os.geteuid() != 0 or bool(shutil.which("runuser")))


class PrivatePostgres:
    """A PostgreSQL 15 server of its own (initdb in a temp folder, its own port, no fsync)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="telemed-pg-"))
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        subprocess.run(
            as_postgres(str(PG_BIN / "initdb"), "-D", str(self.folder / "data"), "-U", "postgres",
                        "--auth=trust", "-E", "UTF8"),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *as_postgres(str(PG_BIN / "postgres"), "-D", str(self.folder / "data"),
                         "-p", str(self.port), "-k", str(self.folder),
                         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        import asyncpg

        async with asyncio.timeout(30):
            while True:
                with contextlib.suppress(OSError, asyncpg.PostgresError):
                    conn = await asyncpg.connect(self.url)
                    await conn.close()
                    return
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            # A fast shutdown: open sessions (the hub's pool) are cut, as in a real restart.
            stop = as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.folder / "data"), "stop",
                               "-m", "fast", "-w")  # fmt: skip
            await asyncio.to_thread(subprocess.run, stop, capture_output=True, timeout=60)
            await asyncio.wait_for(self.proc.wait(), 30)
