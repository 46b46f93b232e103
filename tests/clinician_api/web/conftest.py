"""Browser fixtures of the screens: Debian's Chromium via Playwright, sign-in, screenshots under
build/screens/, and an axe-core accessibility check (axe from npm, injected by the tests only)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.browser import SCREENS

NODE_DIR = Path(__file__).resolve().parent / "node"
AXE = NODE_DIR / "node_modules" / "axe-core" / "axe.min.js"


def _require_axe() -> Path:
    """axe-core at the version pinned in node/package-lock.json (``npm ci`` once)."""
    if AXE.exists():
        return AXE
    npm = shutil.which("npm")
    if npm is None:
        if os.environ.get("CI") == "true":
            pytest.fail("npm is mandatory in CI for the accessibility checks")
        pytest.skip("npm is not installed: no axe-core")
    proc = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.fail(f"npm ci in {NODE_DIR} failed:\n{proc.stderr[-2000:]}")
    return AXE


async def sign_in(browser: Any, hub: Any, username: str, *, phone: bool = False) -> Any:
    """A new page signed in as a ``seed_world`` account (password ``pw-<name>``)."""
    options: dict[str, Any] = (
        {"viewport": {"width": 390, "height": 844}, "is_mobile": True} if phone else {}
    )
    # The tests inject axe-core and evaluate expressions in the page, which the screens' CSP
    # (scripts from this origin only) forbids; test_security_headers_browser.py runs the
    # screens under the real policy.
    context = await browser.new_context(bypass_csp=True, **options)
    page = await context.new_page()
    await page.goto(hub.url + "/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", f"pw-{username}")
    await page.click("button[type=submit]")
    await page.wait_for_load_state("networkidle")
    return page


async def screenshot(page: Any, name: str) -> Path:
    """A full-page screenshot of a screen under build/screens/ (git-ignored)."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    await page.add_script_tag(path=str(_require_axe()))
    result = await page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes'][:3]]}"
        for v in result
        if v["impact"] in ("serious", "critical")
    ]
