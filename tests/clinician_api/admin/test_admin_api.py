"""Admin API: accounts, a nurse's telemedpoint, cohorts, enrolment in one transaction; and each
user's own password and sign-out everywhere. Bad input gets a clear error and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import token_for

STRONG = "Kopretina-lucerna-7Q"  # passes the policy (>= 10 characters, zxcvbn >= 3)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sign_in(c: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await c.post("/auth/token", data={"username": username, "password": password})


async def users(c: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {u["username"]: u for u in (await c.get("/api/admin/users", headers=admin)).json()}


async def test_only_admins_manage_accounts(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    for name in ("cardio", "nurse-a", "pat1"):
        headers = bearer(await token_for(hub, name))
        async with httpx.AsyncClient(base_url=hub.url) as c:
            assert (await c.get("/api/admin/users", headers=headers)).status_code == 403
            made = await c.post(
                "/api/admin/users",
                json={"username": "x1", "role": "admin", "password": STRONG},
                headers=headers,
            )
            assert made.status_code == 403
    admin = bearer(await token_for(hub, "admin"))
    async with httpx.AsyncClient(base_url=hub.url) as c:
        assert "x1" not in await users(c, admin)


async def test_an_admin_adds_a_nurse_who_then_sees_her_points_patients(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    admin = bearer(await token_for(hub, "admin"))
    async with httpx.AsyncClient(base_url=hub.url) as c:
        made = await c.post(
            "/api/admin/users",
            json={"username": "nurse-b", "role": "nurse", "password": STRONG,
                  "telemedpoint_id": "tmp-b"},
            headers=admin,
        )  # fmt: skip
        assert made.status_code == 201, made.text
        assert made.json()["telemedpoint_id"] == "tmp-b" and made.json()["active"]
        token = (await sign_in(c, "nurse-b", STRONG)).json()["access_token"]
        seen = [p["id"] for p in (await c.get("/api/patients", headers=bearer(token))).json()]
        assert seen == ["p3"]


BAD_ACCOUNTS: list[tuple[dict[str, Any], int, str]] = [
        ({"username": "", "role": "nurse", "password": STRONG}, 422, "username"),
        ({"username": "n" * 101, "role": "nurse", "password": STRONG}, 422, "username"),
        ({"username": "new", "role": "wizard", "password": STRONG}, 422, "role"),
        ({"username": "new", "role": "nurse", "password": 12345}, 422, "password"),
        ({"username": "new", "role": "nurse", "password": "short"}, 400, "at least 10"),
        ({"username": "new", "role": "nurse", "password": STRONG, "telemedpoint_id": "nowhere"},
         404, "no telemedpoint"),
        ({"username": "new", "role": "patient", "password": STRONG}, 400, "linked to a patient"),
        ({"username": "new", "role": "patient", "password": STRONG, "patient_id": "p9"}, 404, "p9"),
        ({"username": "new", "role": "cardiologist", "password": STRONG, "telemedpoint_id": "tmp-a"},
         400, "only nurses"),
        ({"username": "cardio", "role": "nurse", "password": STRONG}, 409, "exists"),
]  # fmt: skip


async def test_a_bad_account_is_refused_with_a_reason_and_nothing_is_stored(
    hub: Any, seed: Any
) -> None:
    await seed(hub.settings.database_url)
    admin = bearer(await token_for(hub, "admin"))
    async with httpx.AsyncClient(base_url=hub.url) as c:
        before = await users(c, admin)
        for body, status, says in BAD_ACCOUNTS:
            refused = await c.post("/api/admin/users", json=body, headers=admin)
            assert refused.status_code == status, (body, refused.text)
            assert says in refused.json()["detail"], body
        assert await users(c, admin) == before


async def test_disabling_ends_sessions_and_enabling_lets_the_user_back(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    admin = bearer(await token_for(hub, "admin"))
    cardio = bearer(await token_for(hub, "cardio"))
    async with httpx.AsyncClient(base_url=hub.url) as c:
        assert (await users(c, admin))["cardio"]["live_sessions"] == 1
        off = await c.post("/api/admin/users/cardio/disable", headers=admin)
        assert off.json()["active"] is False and off.json()["live_sessions"] == 0
        assert (await c.get("/api/patients", headers=cardio)).status_code == 401
        assert (await sign_in(c, "cardio", "pw-cardio")).status_code == 401
        assert (await c.post("/api/admin/users/cardio/enable", headers=admin)).json()["active"]
        assert (await sign_in(c, "cardio", "pw-cardio")).status_code == 200
        self_off = await c.post("/api/admin/users/admin/disable", headers=admin)
        assert self_off.status_code == 400 and "your own" in self_off.json()["detail"]
        missing = await c.post("/api/admin/users/nobody/disable", headers=admin)
        assert missing.status_code == 404


async def test_a_password_reset_checks_the_policy_and_ends_the_sessions(
    hub: Any, seed: Any
) -> None:
    await seed(hub.settings.database_url)
    admin = bearer(await token_for(hub, "admin"))
    nurse = bearer(await token_for(hub, "nurse-a"))
    async with httpx.AsyncClient(base_url=hub.url) as c:
        weak = await c.post("/api/admin/users/nurse-a/password", json={"password": "nurse-a-123456"},
                            headers=admin)  # fmt: skip
        assert weak.status_code == 400 and "user name" in weak.json()["detail"]
        assert (await c.get("/api/patients", headers=nurse)).status_code == 200  # unchanged
        done = await c.post("/api/admin/users/nurse-a/password", json={"password": STRONG},
                            headers=admin)  # fmt: skip
        assert done.status_code == 204
        assert (await c.get("/api/patients", headers=nurse)).status_code == 401
        assert (await sign_in(c, "nurse-a", "pw-nurse-a")).status_code == 401
        assert (await sign_in(c, "nurse-a", STRONG)).status_code == 200


async def test_moving_a_nurse_to_another_point_changes_whom_she_sees(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    admin = bearer(await token_for(hub, "admin"))
    nurse = bearer(await token_for(hub, "nurse-a"))
    async with httpx.AsyncClient(base_url=hub.url) as c:
        seen = [p["id"] for p in (await c.get("/api/patients", headers=nurse)).json()]
        assert seen == ["p1", "p2"]
        moved = await c.put("/api/admin/users/nurse-a/telemedpoint",
                            json={"telemedpoint_id": "tmp-b"}, headers=admin)  # fmt: skip
        assert moved.status_code == 200 and moved.json()["telemedpoint_id"] == "tmp-b"
        seen = [p["id"] for p in (await c.get("/api/patients", headers=nurse)).json()]
        assert seen == ["p3"]
        for who, point, status in (("cardio", "tmp-a", 400), ("nurse-a", "nowhere", 404),
                                   ("nurse-a", "bad id!", 422)):  # fmt: skip
            refused = await c.put(f"/api/admin/users/{who}/telemedpoint",
                                  json={"telemedpoint_id": point}, headers=admin)  # fmt: skip
            assert refused.status_code == status, refused.text
        assert (await users(c, admin))["nurse-a"]["telemedpoint_id"] == "tmp-b"
        points = (await c.get("/api/telemedpoints", headers=admin)).json()
        assert [p["id"] for p in points] == ["tmp-a", "tmp-b"]


async def test_a_clinicians_cohort_lists_the_patients_they_follow(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    admin = bearer(await token_for(hub, "admin"))
    async with httpx.AsyncClient(base_url=hub.url) as c:
        await c.post(
            "/api/care-team", json={"username": "cardio", "patient_id": "p1"}, headers=admin
        )
        cohort = (await c.get("/api/admin/users/cardio/patients", headers=admin)).json()
        assert cohort == {"username": "cardio", "role": "cardiologist", "patient_ids": ["p1", "p3"]}
        refused = await c.post(
            "/api/care-team", json={"username": "resp", "patient_id": "p1"}, headers=admin
        )
        assert refused.status_code == 400 and "only clinicians" in refused.json()["detail"]
        assert (await c.get("/api/patients/p1/care-team", headers=admin)).json()[0]["username"] == (
            "cardio"
        )
        assert len((await c.get("/api/patients/p1/care-team", headers=admin)).json()) == 1


def enrolment(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "patient": {"id": "p7", "given_name": "Jana", "family_name": "Nováková",
                    "programme": "hypertension", "telemedpoint_id": "tmp-a",
                    "phone": "+420601234567"},
        "gateway_id": "gw-p7", "care_team": ["cardio"],
        "account": {"username": "jana", "password": STRONG},
    }  # fmt: skip
    body.update(changes)
    return body


async def test_an_enrolment_creates_patient_gateway_team_and_account_together(
    hub: Any, seed: Any
) -> None:
    await seed(hub.settings.database_url)
    admin = bearer(await token_for(hub, "admin"))
    async with httpx.AsyncClient(base_url=hub.url) as c:
        done = await c.post("/api/admin/enrolments", json=enrolment(), headers=admin)
        assert done.status_code == 201, done.text
        body = done.json()
        assert body["patient"]["display_name"] == "Jana Nováková"
        assert len(body["gateway_token"]) >= 40 and body["care_team"] == ["cardio"]
        cardio = bearer(await token_for(hub, "cardio"))
        seen = {p["id"] for p in (await c.get("/api/patients", headers=cardio)).json()}
        assert seen == {"p3", "p7"}
        jana = bearer((await sign_in(c, "jana", STRONG)).json()["access_token"])
        assert [p["id"] for p in (await c.get("/api/patients", headers=jana)).json()] == ["p7"]
        again = await c.post("/api/admin/enrolments", json=enrolment(), headers=admin)
        assert again.status_code == 409


BAD_ENROLMENTS: list[tuple[dict[str, Any], int, str]] = [
        ({"care_team": ["nobody"]}, 404, "nobody"),
        ({"care_team": ["resp"]}, 400, "only clinicians"),
        ({"account": {"username": "jana", "password": "jana"}}, 400, "at least 10"),
        ({"account": {"username": "pat1", "password": STRONG}}, 409, "exists"),
        ({"gateway_id": "bridge-p1"}, 409, "enrolled already"),
        ({"gateway_id": "gw p7"}, 422, "gateway_id"),
        ({"patient": {"id": "p7"}}, 422, "family_name"),
        ({"patient": {"id": "p7", "given_name": "J", "family_name": "N", "phone": "601"}}, 422, "phone"),
        ({"patient": {"id": "p7", "given_name": "J", "family_name": "N" * 101}}, 422, "family_name"),
        ({"patient": {"id": "p7", "given_name": "J", "family_name": "N", "telemedpoint_id": "x"}},
         400, "no telemedpoint"),
        ({"patient": {"id": "p1", "given_name": "J", "family_name": "N"}}, 409, "p1"),
]  # fmt: skip


async def test_a_refused_enrolment_leaves_nothing_behind(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    admin = bearer(await token_for(hub, "admin"))
    async with httpx.AsyncClient(base_url=hub.url) as c:
        before = await users(c, admin)
        for changes, status, says in BAD_ENROLMENTS:
            refused = await c.post(
                "/api/admin/enrolments", json=enrolment(**changes), headers=admin
            )
            assert refused.status_code == status, (changes, refused.text)
            assert says in refused.json()["detail"], changes
            assert (await c.get("/api/patients/p7", headers=admin)).status_code == 404
        assert await users(c, admin) == before
        gateway = await c.post("/api/bridges", json={"bridge_id": "gw-p7", "patient_id": "p1"},
                               headers=admin)  # fmt: skip
        assert gateway.status_code == 201  # the gateway id is still free


async def test_changing_my_password_keeps_this_session_and_ends_the_others(
    hub: Any, seed: Any
) -> None:
    await seed(hub.settings.database_url)
    here = bearer(await token_for(hub, "cardio"))
    there = bearer(await token_for(hub, "cardio"))
    async with httpx.AsyncClient(base_url=hub.url) as c:
        for body, says in (
            (
                {"current_password": "wrong-one", "new_password": STRONG},
                "current password is wrong",
            ),
            ({"current_password": "pw-cardio", "new_password": "abc"}, "at least 10"),
            ({"current_password": "pw-cardio", "new_password": "pw-cardio"}, "the same"),
        ):
            refused = await c.post("/api/me/password", json=body, headers=here)
            assert refused.status_code == 400 and says in refused.json()["detail"], refused.text
        assert (await c.get("/api/patients", headers=there)).status_code == 200  # nothing changed
        assert len((await c.get("/api/me/sessions", headers=here)).json()) == 2
        done = await c.post("/api/me/password", headers=here,
                            json={"current_password": "pw-cardio", "new_password": STRONG})  # fmt: skip
        assert done.json() == {"sessions_ended": 1}
        assert (await c.get("/api/patients", headers=here)).status_code == 200
        assert (await c.get("/api/patients", headers=there)).status_code == 401
        sessions = (await c.get("/api/me/sessions", headers=here)).json()
        assert [s["current"] for s in sessions] == [True]
        assert (await sign_in(c, "cardio", STRONG)).status_code == 200


async def test_signing_out_everywhere_ends_every_session(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    tokens = [bearer(await token_for(hub, "nurse-a")) for _ in range(3)]
    async with httpx.AsyncClient(base_url=hub.url) as c:
        ended = await c.post("/api/me/sign-out-everywhere", headers=tokens[0])
        assert ended.json() == {"sessions_ended": 3}
        for headers in tokens:
            assert (await c.get("/api/patients", headers=headers)).status_code == 401
        assert (await sign_in(c, "nurse-a", "pw-nurse-a")).status_code == 200
