"""Sign-in: throttling and lockout (shared by processes), TLS in production, the policy."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from clinician_api.auth.signin import plain_http_refusal
from clinician_api.settings import ServerSettings
from patient_hub.accounts import security
from patient_hub.accounts.service import set_active, set_password
from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
from telemed_core.errors import InvalidInput, TooManyRequests
from telemed_core.values import utc_now


async def _try(client: httpx.AsyncClient, password: str) -> httpx.Response:
    return await client.post("/auth/token", data={"username": "nurse-a", "password": password})


async def test_the_sixth_wrong_password_in_a_minute_is_throttled(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    async with httpx.AsyncClient(base_url=hub.url) as client:
        statuses = [(await _try(client, f"wrong-{i}")).status_code for i in range(5)]
        sixth = await _try(client, "wrong-6")
        right = await _try(client, "pw-nurse-a")
    assert statuses == [401] * 5
    assert sixth.status_code == 429
    assert "too many failed sign-ins" in sixth.json()["detail"]
    assert 1 <= int(sixth.headers["Retry-After"]) <= 60
    assert right.status_code == 429  # the right password gains nothing while throttled


async def test_the_sign_in_page_says_it_is_throttled(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    async with httpx.AsyncClient(base_url=hub.url) as client:
        for i in range(6):
            page = await client.post("/login", data={"username": "nurse-a", "password": f"x{i}"})
    assert page.status_code == 429
    assert "Too many failed sign-ins" in page.text


async def test_throttling_counts_failures_across_api_processes(
    run_hub: Any, postgres_url: str, seed: Any
) -> None:
    first = await run_hub(postgres_url)
    second = await run_hub(postgres_url)
    try:
        await seed(postgres_url)
        async with (
            httpx.AsyncClient(base_url=first.url) as a,
            httpx.AsyncClient(base_url=second.url) as b,
        ):
            for client in (a, b, a, b, a):
                assert (await _try(client, "wrong")).status_code == 401
            assert (await _try(b, "wrong")).status_code == 429
    finally:
        await second.stop()
        await first.stop()


async def test_a_successful_sign_in_clears_the_count(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    async with httpx.AsyncClient(base_url=hub.url) as client:
        for _ in range(4):
            await _try(client, "wrong")
        assert (await _try(client, "pw-nurse-a")).status_code == 200
        for _ in range(4):
            assert (await _try(client, "wrong")).status_code == 401


async def test_twenty_failures_lock_the_account_until_a_reset(tmp_path: Any, seed: Any) -> None:
    url = f"sqlite:///{tmp_path / 'lock.db'}"
    from clinician_api.migrate import upgrade_async

    await upgrade_async(url)
    await seed(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    now = utc_now()
    try:
        async with unit_of_work(sessions) as s:
            for i in range(20):  # spread over 40 minutes: never 5 in one minute
                await security.record_failure(s, "nurse-a", now - timedelta(minutes=40 - 2 * i))
        async with unit_of_work(sessions) as s:
            with pytest.raises(TooManyRequests, match="account locked"):
                await security.check_throttle(s, "nurse-a", now)
            await set_password(s, "nurse-a", "tiger-lamp-ocean-47", now)
        async with unit_of_work(sessions) as s:
            await security.check_throttle(s, "nurse-a", now)
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "password", ["demo", "Password123!", "hospital2026", "nurse-a-nurse-a", "short1!"]
)
def test_the_policy_refuses_weak_and_common_passwords(password: str) -> None:
    with pytest.raises(InvalidInput, match="password"):
        security.check_password_policy(password, "nurse-a")


def test_the_policy_accepts_a_long_uncommon_passphrase() -> None:
    security.check_password_policy("tiger-lamp-ocean-47", "nurse-a")


async def test_disabling_a_user_ends_their_sessions(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    from tests.conftest import token_for

    token = await token_for(hub, "cardio")
    engine = make_engine(hub.settings.database_url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            await set_active(s, "cardio", False, utc_now())
    finally:
        await engine.dispose()
    async with httpx.AsyncClient(base_url=hub.url) as client:
        me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        again = await client.post(
            "/auth/token", data={"username": "cardio", "password": "pw-cardio"}
        )
    assert (me.status_code, again.status_code) == (401, 401)


async def test_production_over_plain_http_explains_why_sign_in_cannot_work(
    hub: Any, seed: Any
) -> None:
    await seed(hub.settings.database_url)
    async with httpx.AsyncClient(base_url=hub.url, headers={"Host": "hub.example.org"}) as client:
        page = await client.get("/login")
        submit = await client.post("/login", data={"username": "nurse-a", "password": "pw-nurse-a"})
    assert "signs in only over HTTPS" in page.text
    assert submit.status_code == 403 and "TLS reverse proxy" in submit.text
    assert "telemed_token" not in submit.cookies


def _request(scheme: str, host: str) -> Any:
    from starlette.requests import Request

    scope = {"type": "http", "scheme": scheme, "server": (host, 443), "path": "/login",
             "headers": [(b"host", host.encode())], "query_string": b"", "method": "GET"}  # fmt: skip
    return Request(scope)


def test_https_or_loopback_may_sign_in_and_demo_always() -> None:
    production = ServerSettings()
    assert plain_http_refusal(_request("https", "hub.example.org"), production) is None
    assert plain_http_refusal(_request("http", "127.0.0.1"), production) is None
    assert plain_http_refusal(_request("http", "hub.example.org"), production) is not None
    demo = ServerSettings(environment="demo")
    assert plain_http_refusal(_request("http", "hub.example.org"), demo) is None


async def test_behind_a_trusted_tls_proxy_the_cookies_are_secure(tmp_path: Any, seed: Any) -> None:
    """uvicorn as ``telemed serve`` runs it (proxy headers from 127.0.0.1 trusted)."""
    import asyncio

    import uvicorn

    from clinician_api.app import create_app
    from clinician_api.migrate import upgrade_async

    url = f"sqlite:///{tmp_path / 'proxy.db'}"
    await upgrade_async(url)
    await seed(url)
    settings = ServerSettings(database_url=url)
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=0, log_level="warning",
        proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips,
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            done = await client.post(
                "/login",
                data={"username": "nurse-a", "password": "pw-nurse-a"},
                headers={"X-Forwarded-Proto": "https", "Host": "hub.example.org"},
            )
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
    cookies = done.headers.get_list("set-cookie")
    assert done.status_code == 303
    assert len(cookies) == 2 and all("Secure" in c for c in cookies)
