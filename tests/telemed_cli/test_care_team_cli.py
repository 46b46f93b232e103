"""`telemed care-team`: add, list and remove cohort members; clear errors change nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from clinician_api.migrate import upgrade
from telemed_cli.main import app
from tests.conftest import seed_world


def test_add_list_remove_and_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    upgrade(url)
    asyncio.run(seed_world(url))
    run = CliRunner().invoke
    added = run(app, ["care-team", "add", "cardio", "p1", "p2", "--database-url", url])
    assert added.exit_code == 0, added.output
    listed = run(app, ["care-team", "list", "p1", "--database-url", url])
    assert "cardio\tcardiologist" in listed.output
    not_clinician = run(app, ["care-team", "add", "resp", "p1", "--database-url", url])
    assert not_clinician.exit_code == 2 and "only clinicians" in not_clinician.output
    missing = run(app, ["care-team", "add", "cardio", "p1", "nobody", "--database-url", url])
    assert missing.exit_code == 2 and "no patient 'nobody'" in missing.output
    removed = run(app, ["care-team", "remove", "cardio", "p1", "--database-url", url])
    assert removed.exit_code == 0
    assert "cardio" not in run(app, ["care-team", "list", "p1", "--database-url", url]).output
    assert "cardio" in run(app, ["care-team", "list", "p2", "--database-url", url]).output
    again = run(app, ["care-team", "remove", "cardio", "p1", "--database-url", url])
    assert again.exit_code == 2 and "does not follow" in again.output
    verify = run(app, ["audit", "verify", "--database-url", url])
    assert "intact: 3 entries" in verify.output  # two adds and one removal
