"""Debian's Chromium for the browser tests, in one place: its path, the flags this machine
needs (no sandbox as root, no GPU, no calls home), where screenshots go, and the launch."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENS = Path(__file__).resolve().parents[1] / "build" / "screens"


def require_chromium() -> None:
    """Skip without Chromium, except in CI where ``.ci/run`` installs it and it is mandatory."""
    if HAVE_CHROMIUM:
        return
    if os.environ.get("CI") == "true":
        pytest.fail("Debian's chromium is mandatory in CI (.ci/run installs it)")
    pytest.skip("Debian's chromium is not installed")


@asynccontextmanager
async def chromium(extra_args: Sequence[str] = ()) -> AsyncIterator[Any]:
    """A headless Debian Chromium driven by Playwright (never a downloaded browser)."""
    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        instance = await p.chromium.launch(
            executable_path=str(CHROMIUM), args=[*ARGS, *extra_args], headless=True
        )
        try:
            yield instance
        finally:
            await instance.close()
