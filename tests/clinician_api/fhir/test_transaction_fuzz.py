"""Fuzzing POST /fhir (transaction Bundles) with hypothesis: arbitrary JSON, and valid PHD bundles
with one value replaced or removed anywhere. Never a 5xx; errors are OperationOutcomes."""

from __future__ import annotations

import asyncio
import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from clinician_api.app import create_app
from clinician_api.migrate import upgrade_async
from clinician_api.settings import ServerSettings
from tests.clinician_api.fhir.test_transaction import phd_bundle
from tests.conftest import seed_world

EXAMPLES = int(os.environ.get("TELEMED_FUZZ_EXAMPLES", "120"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["urn:uuid:p-0001", "Patient", "2026-13-45T99:00:00Z", "identifier=|"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    db: Path = tmp_path_factory.mktemp("fhir-fuzz") / "hub.db"
    settings_ = ServerSettings(
        database_url=f"sqlite:///{db}", rate_limit_user_per_min=10**7, rate_limit_ip_per_min=10**7
    )
    asyncio.run(upgrade_async(settings_.database_url))
    asyncio.run(seed_world(settings_.database_url))
    with TestClient(create_app(settings_), base_url="http://localhost") as test_client:
        response = test_client.post(
            "/auth/token", data={"username": "admin", "password": "pw-admin"}
        )
        test_client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        yield test_client


def _check(client: TestClient, body: bytes) -> None:
    response = client.post("/fhir", content=body, headers={"Content-Type": "application/fhir+json"})
    assert response.status_code < 500, response.text[:500]
    assert response.json()["resourceType"] in ("Bundle", "OperationOutcome")


def _replace(document: Any, choices: list[int], value: Any, delete: bool) -> Any:
    """Walk into ``document`` by ``choices`` (an index into each container's keys) and replace
    or delete the value reached."""
    target = document
    for choice in choices:
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        if not keys:
            break
        key = keys[choice % len(keys)]
        if not isinstance(target[key], dict | list) or choice % 3 == 0:
            if delete:
                del target[key]
            else:
                target[key] = value
            return document
        target = target[key]
    return document


@FUZZ
@given(value=JSON_VALUES)
def test_arbitrary_json_is_never_a_server_error(client: TestClient, value: object) -> None:
    _check(client, json.dumps(value).encode())


@FUZZ
@given(raw=st.binary(max_size=100))
def test_arbitrary_bytes_are_never_a_server_error(client: TestClient, raw: bytes) -> None:
    _check(client, raw)


@FUZZ
@given(
    choices=st.lists(st.integers(0, 50), min_size=1, max_size=7),
    value=JSON_VALUES,
    delete=st.booleans(),
)
def test_a_bundle_with_one_value_replaced_is_never_a_server_error(
    client: TestClient, choices: list[int], value: object, delete: bool
) -> None:
    bundle = _replace(copy.deepcopy(phd_bundle()), choices, value, delete)
    _check(client, json.dumps(bundle).encode())


@pytest.mark.parametrize("resource_type", ["", None, 7, "NoSuchResource"])
def test_an_entry_naming_no_known_resource_type_is_400(
    client: TestClient, resource_type: object
) -> None:
    # found by the fuzzer: fhir.resources raised KeyError / TypeError, a 500
    bundle = phd_bundle()
    bundle["entry"][0]["resource"]["resourceType"] = resource_type
    response = client.post("/fhir", json=bundle)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
