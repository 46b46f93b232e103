"""`telemed user list` and `telemed user telemedpoint`: the CLI side of the admin screen."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from clinician_api.migrate import upgrade
from telemed_cli.main import app
from tests.conftest import seed_world


def test_list_and_move_a_nurse_between_points(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'u.db'}"
    upgrade(url)
    asyncio.run(seed_world(url))
    run = CliRunner().invoke
    listed = run(app, ["user", "list", "--database-url", url])
    assert "nurse-a\tnurse\ttmp-a\tactive" in listed.output
    assert "pat1\tpatient\tp1\tactive" in listed.output
    moved = run(app, ["user", "telemedpoint", "nurse-a", "tmp-b", "--database-url", url])
    assert moved.exit_code == 0, moved.output
    assert "nurse-a\tnurse\ttmp-b" in run(app, ["user", "list", "--database-url", url]).output
    wrong = run(app, ["user", "telemedpoint", "cardio", "tmp-a", "--database-url", url])
    assert wrong.exit_code != 0 and "only nurses" in str(wrong.output) + str(wrong.exception)
    nowhere = run(app, ["user", "telemedpoint", "nurse-a", "tmp-x", "--database-url", url])
    assert nowhere.exit_code != 0
    assert "nurse-a\tnurse\ttmp-b" in run(app, ["user", "list", "--database-url", url]).output
    left = run(app, ["user", "telemedpoint", "nurse-a", "--database-url", url])
    assert left.exit_code == 0
    assert "nurse-a\tnurse\t-\tactive" in run(app, ["user", "list", "--database-url", url]).output
