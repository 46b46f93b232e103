"""Server settings: environment variables with one prefix, validated at start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from clinician_api.settings import ServerSettings


def test_settings_come_from_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEMED_DATABASE_URL", "postgresql://db/x")
    monkeypatch.setenv("TELEMED_REDIS_URL", "redis://r:6379/0")
    monkeypatch.setenv("TELEMED_PORT", "9001")
    settings = ServerSettings()
    assert (settings.database_url, settings.redis_url, settings.port) == (
        "postgresql://db/x",
        "redis://r:6379/0",
        9001,
    )


def test_production_is_the_default_and_listens_on_loopback_only() -> None:
    settings = ServerSettings()
    assert (settings.environment, settings.host, settings.secret_key) == (
        "production",
        "127.0.0.1",
        "",  # generated on first start and kept in the database
    )


def test_a_given_secret_key_must_be_long(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEMED_SECRET_KEY", "short")
    with pytest.raises(ValidationError, match="TELEMED_SECRET_KEY"):
        ServerSettings()
    monkeypatch.setenv("TELEMED_SECRET_KEY", "k" * 40)
    assert ServerSettings().secret_key == "k" * 40


def test_there_is_no_development_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEMED_ENVIRONMENT", "development")
    with pytest.raises(ValidationError, match="demo"):
        ServerSettings()


def test_fhir_resources_still_imports_beside_the_project() -> None:
    # The top-level fhir/ folder holds JSON artefacts, not a package that could shadow it;
    # run from the repository root, where fhir/ is first on sys.path.
    repo = Path(__file__).resolve().parents[2]
    assert (repo / "fhir").is_dir()
    code = (
        "import fhir.resources, pathlib;"
        "from fhir.resources.R4B.observation import Observation;"
        "Observation.model_validate({'resourceType': 'Observation', 'status': 'final',"
        " 'code': {'text': 'x'}});"
        "print(pathlib.Path(fhir.resources.__file__).parent.parent.parent.name)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "site-packages"


def test_split_roles_need_redis_and_timezones_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="TELEMED_REDIS_URL"):
        ServerSettings(role="worker")
    assert ServerSettings(role="worker", redis_url="redis://x").role == "worker"
    with pytest.raises(ValidationError, match="IANA"):
        ServerSettings(timezone="Mars/Olympus")
    assert ServerSettings(timezone="Europe/Riga").timezone == "Europe/Riga"
