"""Every command turns expected failures into one clear line and a non-zero exit status."""

from __future__ import annotations

import os
import pty
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from telemed_cli.errors import redact

TELEMED = [sys.executable, "-m", "telemed_cli.main"]

MIGRATIONS = Path(__file__).resolve().parents[2] / "clinician_api" / "migrations" / "versions"


def _env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TELEMED_")}
    return {**clean, **extra}


def run(
    *args: str, stdin: str = "", cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TELEMED, *args], input=stdin, env=_env(**env), cwd=cwd,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, done.stdout + done.stderr
    assert "Traceback" not in lines[0]
    return lines[0]


def test_user_add_with_an_unknown_telemedpoint_prints_one_line_without_the_hash(
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    done = run("user", "add", "nina", "--role", "nurse", "--telemedpoint", "tmp-nowhere",
               "--database-url", db, stdin="tiger-lamp-ocean-47\n")  # fmt: skip
    line = one_line_error(done)
    assert line == "error: no telemedpoint 'tmp-nowhere'"
    assert "argon2" not in done.stdout + done.stderr


def test_user_add_refuses_a_weak_password(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    done = run("user", "add", "root2", "--role", "admin", "--database-url", db, stdin="demo\n")
    assert "password must have at least 10 characters" in one_line_error(done)


def test_user_add_at_a_terminal_asks_twice_without_echo(tmp_path: Path) -> None:
    password = "tiger-lamp-ocean-47"
    db = f"sqlite:///{tmp_path / 'x.db'}"
    args = [*TELEMED, "user", "add", "boss", "--role", "admin", "--database-url", db]
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal, as at a real console
        os.execve(sys.executable, args, _env())
    seen = b""
    for prompt in (b"New password for boss: ", b"Repeat it: "):
        seen += _read_until(fd, prompt)
        os.write(fd, password.encode() + b"\n")
    seen += _read_until(fd, b"")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert b"added boss (admin)" in seen
    assert password.encode() not in seen


def _read_until(fd: int, marker: bytes, timeout_s: float = 60) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the child closed the terminal
            return out
        if not chunk:
            return out
        out += chunk
        if marker and marker in out:
            return out
    raise AssertionError(f"no {marker!r} in {out!r}")


def test_db_upgrade_says_which_database_and_what_changed(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'fresh.db'}"
    first = run("db", "upgrade", "--database-url", db)
    again = run("db", "upgrade", "--database-url", db)
    assert first.returncode == 0 and again.returncode == 0
    head = sorted(p.name[:4] for p in MIGRATIONS.glob("0*.py"))[-1]
    assert f"{db}: migrated from an empty database to {head}" in first.stdout
    assert f"{db}: already at the latest schema ({head})" in again.stdout


def test_db_upgrade_of_a_missing_postgresql_database_is_one_line(postgres_url: str) -> None:
    missing = postgres_url.rsplit("/", 1)[0] + "/no_such_database_h3"
    line = one_line_error(run("db", "upgrade", "--database-url", missing))
    assert line.startswith("error: database error:") and "does not exist" in line


def test_db_upgrade_of_an_unreachable_database_is_one_line() -> None:
    url = "postgresql://someone:hunter2-secret@127.0.0.1:1/telemed"
    line = one_line_error(run("db", "upgrade", "--database-url", url))
    assert "hunter2" not in line and line.startswith("error:")


def test_serve_on_a_busy_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run("serve", "--port", str(port), cwd=tmp_path)
    line = one_line_error(done)
    assert line == "error: the port is already in use: stop the other server or choose --port"


def test_simulate_without_a_hub_says_so() -> None:
    done = run("simulate")
    assert done.returncode == 2
    assert "Missing option '--hub'" in done.stderr and "Traceback" not in done.stderr


def test_simulate_against_no_hub_is_one_line() -> None:
    line = one_line_error(run("simulate", "--hub", "http://127.0.0.1:1"))
    assert line.startswith("error: cannot reach the hub at http://127.0.0.1:1")


def test_version_and_help_show_defaults_and_environment_variables() -> None:
    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("telemed 0.")
    helped = run("serve", "--help")
    assert helped.returncode == 0
    text = " ".join(helped.stdout.split())
    for shown in ("TELEMED_DATABASE_URL", "TELEMED_HOST", "TELEMED_PORT", "default: (127.0.0.1)"):
        assert shown in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("sqlite:///var/x.db", "sqlite:///var/x.db"),
    ],
)
def test_passwords_in_urls_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


async def test_simulate_with_wrong_credentials_is_one_line(hub: object, seed: object) -> None:
    import asyncio

    await seed(hub.settings.database_url)  # type: ignore[attr-defined,operator]
    done = await asyncio.to_thread(
        run,
        "simulate",
        "--hub",
        hub.url,
        "--admin-password",
        "not-it",  # type: ignore[attr-defined]
    )
    line = one_line_error(done)
    assert "refused the credentials" in line and "not-it" not in line
