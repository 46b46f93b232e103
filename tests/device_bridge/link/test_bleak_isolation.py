"""bleak sits behind the BLE port: exactly one module of the project imports it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PACKAGES = (
    "telemed_core",
    "device_bridge",
    "telemedpoint_kiosk",
    "patient_hub",
    "alerts",
    "clinician_api",
    "telemed_cli",
)
THE_ONE = "device_bridge/link/bleak_link.py"
RADIO_LIBRARIES = ("bleak", "bleak_retry_connector")


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def imported_top_levels(source: str) -> set[str]:
    """Top-level names a module imports: import statements (absolute ones; relative imports
    stay inside the project) and ``importlib.import_module("x")`` / ``__import__("x")``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {_top(alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(_top(node.module))
        elif isinstance(node, ast.Call) and node.args:
            func, first = node.func, node.args[0]
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in {"import_module", "__import__"} and isinstance(first, ast.Constant):
                found.add(_top(str(first.value)))
    return found


def importers_of(library: str) -> set[str]:
    hits: set[str] = set()
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if library in imported_top_levels(path.read_text(encoding="utf-8")):
                hits.add(path.relative_to(REPO).as_posix())
    return hits


def test_the_scanner_sees_every_form_of_import() -> None:
    source = (
        "import bleak\n"
        "from bleak.exc import BleakError\n"
        "import bleak_retry_connector as brc\n"
        "from . import bleak_like\n"
        "importlib.import_module('bleak.backends')\n"
    )
    assert imported_top_levels(source) == {"bleak", "bleak_retry_connector"}


def test_every_package_is_scanned() -> None:
    assert all((REPO / package).is_dir() for package in PACKAGES)
    assert (REPO / THE_ONE).is_file()


@pytest.mark.parametrize("library", RADIO_LIBRARIES)
def test_radio_library_is_imported_only_by_the_bleak_link(library: str) -> None:
    assert importers_of(library) == {THE_ONE}
