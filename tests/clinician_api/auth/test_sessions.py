"""Sessions: a generated signing key, server-side sign-out with CSRF, idle time-out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import jwt
from sqlalchemy import select, update

from patient_hub.accounts.security_models import AuthSession, ServerSecret
from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
from telemed_core.values import utc_now
from tests.conftest import token_for

#: The key that clinician_api/settings.py used to publish as its default.
FORMERLY_PUBLISHED_KEY = "dev-only-secret-change-me-0123456789abcdef"


async def _stored_key(database_url: str) -> str:
    engine = make_engine(database_url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            return str(await s.scalar(select(ServerSecret.value)))
    finally:
        await engine.dispose()


async def _user_id(hub: Any, username: str) -> str:
    token = await token_for(hub, username)
    async with httpx.AsyncClient(base_url=hub.url) as client:
        me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        return str(me.json()["user_id"])


def _forge(secret: str, user_id: str, sid: str | None = None) -> str:
    now = utc_now()
    claims: dict[str, Any] = {"sub": user_id, "role": "admin", "iat": now}
    claims["exp"] = now + timedelta(hours=1)
    if sid is not None:
        claims["sid"] = sid
    return jwt.encode(claims, secret, algorithm="HS256")


@asynccontextmanager
async def _signed_in_client(hub: Any, username: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=hub.url) as client:
        form = {"username": username, "password": f"pw-{username}"}
        response = await client.post("/login", data=form)
        assert response.status_code == 303, response.text
        yield client


async def test_a_token_signed_with_the_formerly_published_key_is_refused(
    hub: Any, seed: Any
) -> None:
    await seed(hub.settings.database_url)
    admin_id = await _user_id(hub, "admin")
    async with httpx.AsyncClient(base_url=hub.url) as client:
        for forged in (
            _forge(FORMERLY_PUBLISHED_KEY, admin_id),
            _forge(FORMERLY_PUBLISHED_KEY, admin_id, sid="ses_x"),
        ):
            me = await client.get("/api/me", headers={"Authorization": f"Bearer {forged}"})
            assert me.status_code == 401


async def test_the_generated_key_is_random_stored_and_not_enough_without_a_session(
    hub: Any, seed: Any
) -> None:
    await seed(hub.settings.database_url)
    key = await _stored_key(hub.settings.database_url)
    assert len(key) >= 43 and key != FORMERLY_PUBLISHED_KEY
    admin_id = await _user_id(hub, "admin")
    async with httpx.AsyncClient(base_url=hub.url) as client:
        no_session = _forge(key, admin_id, sid="ses_made_up")
        me = await client.get("/api/me", headers={"Authorization": f"Bearer {no_session}"})
    assert me.status_code == 401


async def test_two_hubs_on_one_database_share_the_key(run_hub: Any, tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = await run_hub(url)
    try:
        second = await run_hub(url)
        try:
            key = await _stored_key(url)
            from tests.conftest import seed_world

            await seed_world(url)
            token = await token_for(first, "nurse-a")
            async with httpx.AsyncClient(base_url=second.url) as client:
                me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200
            assert key == await _stored_key(url)
        finally:
            await second.stop()
    finally:
        await first.stop()


async def test_the_old_cookie_after_sign_out_gets_401(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    async with _signed_in_client(hub, "nurse-a") as client:
        cookie = client.cookies["telemed_token"]
        csrf = client.cookies["telemed_csrf"]
        assert (await client.get("/api/me")).status_code == 200
        out = await client.post("/logout", data={"csrf_token": csrf})
        assert (out.status_code, out.headers["location"]) == (303, "/login")
    async with httpx.AsyncClient(base_url=hub.url, cookies={"telemed_token": cookie}) as old:
        me = await old.get("/api/me")
    assert me.status_code == 401
    assert "signed out" in me.json()["detail"]


async def test_sign_out_without_the_csrf_token_is_refused_and_ends_nothing(
    hub: Any, seed: Any
) -> None:
    await seed(hub.settings.database_url)
    async with _signed_in_client(hub, "nurse-a") as client:
        refused = await client.post("/logout", data={"csrf_token": "forged"})
        assert refused.status_code == 403
        assert (await client.get("/api/me")).status_code == 200


async def test_sign_out_is_not_a_get_link(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    async with _signed_in_client(hub, "nurse-a") as client:
        assert (await client.get("/logout")).status_code == 405
        assert (await client.get("/api/me")).status_code == 200


async def test_a_cookie_signed_in_write_needs_the_csrf_header(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    async with _signed_in_client(hub, "admin") as client:
        body = {"id": "tmp-c", "name": "Point C"}
        refused = await client.post("/api/telemedpoints", json=body)
        assert refused.status_code == 403
        csrf = client.cookies["telemed_csrf"]
        done = await client.post("/api/telemedpoints", json=body, headers={"X-CSRF-Token": csrf})
        assert done.status_code == 201


async def test_an_api_client_signs_out_its_bearer_token(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    token = await token_for(hub, "cardio")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=hub.url) as client:
        assert (await client.post("/auth/logout", headers=headers)).status_code == 204
        assert (await client.get("/api/me", headers=headers)).status_code == 401


async def test_a_session_idle_for_longer_than_the_timeout_ends(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    token = await token_for(hub, "cardio")
    idle = timedelta(seconds=hub.settings.idle_timeout_s + 1)
    engine = make_engine(hub.settings.database_url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            await s.execute(update(AuthSession).values(last_seen_at=utc_now() - idle))
    finally:
        await engine.dispose()
    async with httpx.AsyncClient(base_url=hub.url) as client:
        me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401
    assert "without activity" in me.json()["detail"]


async def test_activity_keeps_a_session_alive(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    token = await token_for(hub, "cardio")
    almost = timedelta(seconds=hub.settings.idle_timeout_s - 30)
    engine = make_engine(hub.settings.database_url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            await s.execute(update(AuthSession).values(last_seen_at=utc_now() - almost))
        async with httpx.AsyncClient(base_url=hub.url) as client:
            me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        async with unit_of_work(make_sessionmaker(engine)) as s:
            seen = await s.scalar(select(AuthSession.last_seen_at))
        assert seen is not None and utc_now() - seen < timedelta(seconds=30)
    finally:
        await engine.dispose()
