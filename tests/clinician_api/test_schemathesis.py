"""schemathesis against the app's OpenAPI schema, in process (ASGI), signed in as the admin:
no generated request may get a server error (5xx).

Short in ``make test`` (TELEMED_SCHEMATHESIS_EXAMPLES examples per operation, default 6); the
long run is ``make fuzz`` (docs/operations.md, "Fuzzing").
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from starlette.testclient import TestClient

from clinician_api.app import create_app
from clinician_api.migrate import upgrade_async
from clinician_api.settings import ServerSettings
from tests.conftest import seed_world

EXAMPLES = int(os.environ.get("TELEMED_SCHEMATHESIS_EXAMPLES", "6"))
_DB = Path(tempfile.mkdtemp(prefix="telemed-schemathesis-")) / "hub.db"
SETTINGS = ServerSettings(
    database_url=f"sqlite:///{_DB}",
    rate_limit_user_per_min=10**7,
    rate_limit_ip_per_min=10**7,
)


async def _seed() -> None:
    await upgrade_async(SETTINGS.database_url)
    await seed_world(SETTINGS.database_url)


def _admin_token() -> str:
    asyncio.run(_seed())
    with TestClient(create_app(SETTINGS), base_url="http://localhost") as client:
        response = client.post("/auth/token", data={"username": "admin", "password": "pw-admin"})
        response.raise_for_status()
        return str(response.json()["access_token"])


TOKEN = _admin_token()
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(SETTINGS), headers={"Authorization": f"Bearer {TOKEN}"}
)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_generated_request_gets_a_server_error(case: schemathesis.Case) -> None:
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    if case.path == "/readyz" and response.status_code == 503:
        # Readiness answers 503 until the worker holds its partitions: a state, not an error.
        assert "application/problem+json" in str(response.headers["content-type"])
        return
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}\n"
        f"{case.as_curl_command()}"
    )
