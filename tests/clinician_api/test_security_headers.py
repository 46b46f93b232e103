"""Security headers on every response of the app (clinician_api/security_headers.py)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from clinician_api.app import create_app
from clinician_api.security_headers import CONTENT_SECURITY_POLICY
from clinician_api.settings import ServerSettings
from tests.conftest import RunningHub


def _client(tmp_path: Path, base_url: str = "http://testserver") -> httpx.AsyncClient:
    app = create_app(ServerSettings(database_url=f"sqlite:///{tmp_path / 'hub.db'}"))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


@pytest.mark.parametrize("path", ["/login", "/static/monitor.js", "/healthz", "/api/me", "/nope"])
async def test_every_response_carries_the_security_headers(hub: RunningHub, path: str) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as client:
        response = await client.get(path)
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in response.headers


def test_the_policy_allows_only_own_scripts_and_no_framing() -> None:
    directives = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in directives["script-src"] and "unsafe-eval" not in CONTENT_SECURITY_POLICY


async def test_hsts_is_sent_over_https(tmp_path: Path) -> None:
    async with _client(tmp_path, base_url="https://testserver") as client:
        response = await client.get("/login")
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")
