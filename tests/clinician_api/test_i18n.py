"""Czech and English: complete catalogues, per-user choice, Czech by default for patients and
nurses."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from clinician_api.i18n import WEB_TEXTS, catalogue, language_for, page_markers
from patient_hub.accounts.models import Role
from tests.conftest import token_for


def test_every_marked_text_of_the_screens_has_a_czech_translation() -> None:
    czech = catalogue("cs")
    marked = {m for text in WEB_TEXTS() for m in page_markers(text)}
    scripted = {s for text in WEB_TEXTS() for s in re.findall(r'\bt\("((?:[^"\\]|\\.)*)"', text)}
    label_maps = r"(?:(?:KIND|FINDING|PROGRAMME|ROLE)_LABELS|AUDIT_ACTIONS|PARAMETER_LABELS|DEVICE_KIND_LABELS|TASKS) = \{(.*?)\};"
    labels = {v for text in WEB_TEXTS() for block in re.findall(label_maps, text, re.S)
              for v in re.findall(r':\s*"([^"]+)"', block)}  # fmt: skip
    missing = sorted((marked | scripted | labels) - set(czech))
    assert len(marked | scripted) > 100 and len(labels) > 40 and missing == []


@pytest.mark.parametrize(
    ("role", "chosen", "language"),
    [(Role.PATIENT, None, "cs"), (Role.NURSE, None, "cs"), (Role.CARDIOLOGIST, None, "en"),
     (Role.PATIENT, "en", "en"), (Role.ADMIN, "cs", "cs"), (Role.ADMIN, "de", "en")],
)  # fmt: skip
def test_the_language_is_the_users_choice_else_the_roles_default(
    role: Role, chosen: str | None, language: str
) -> None:
    assert language_for(role, chosen) == language


async def _portal(hub: Any) -> str:
    async with httpx.AsyncClient(base_url=hub.url) as c:
        await c.post("/login", data={"username": "pat1", "password": "pw-pat1"})
        return (await c.get("/me")).text


async def test_a_patient_gets_czech_until_choosing_english(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    page = await _portal(hub)
    assert '<html lang="cs">' in page and "Moje měření" in page and 'id="i18n-catalogue"' in page
    token = await token_for(hub, "pat1")
    async with httpx.AsyncClient(
        base_url=hub.url, headers={"Authorization": f"Bearer {token}"}
    ) as c:
        bad = await c.put("/api/me/language", json={"language": "de"})
        assert bad.status_code == 422
        assert '<html lang="cs">' in await _portal(hub)  # nothing changed
        ok = await c.put("/api/me/language", json={"language": "en"})
        assert ok.status_code == 204
    page = await _portal(hub)
    assert '<html lang="en">' in page and "My measurements" in page


#: A literal shown to the reader without t(): el(tag, attrs, "Words"), .textContent = "Words" or
#: a template literal that starts with words.
_BARE_TEXT = re.compile(
    r'el\("\w+", \{[^}]*\}, "([^"]*[A-Za-z]{2}[^"]*)"\)'
    r'|textContent = "([^"]*[A-Za-z]{2}[^"]*)"'
    r"|textContent = `([A-Za-z][^`$]*)"
)


def test_the_translated_scripts_show_no_untranslated_literal() -> None:
    scripts = [text for text in WEB_TEXTS() if '"use strict"' in text]
    bare = [m.group(0) for text in scripts for m in _BARE_TEXT.finditer(text)]
    assert len(scripts) >= 8 and bare == []


async def test_a_responder_who_chose_czech_gets_the_responder_screen_in_czech(
    hub: Any, seed: Any
) -> None:
    await seed(hub.settings.database_url)
    async with httpx.AsyncClient(base_url=hub.url) as c:
        await c.post("/login", data={"username": "resp", "password": "pw-resp"})
        english = (await c.get("/respond")).text  # a responder's default is English
        assert "Off duty" in english and '<html lang="en">' in english
        token = await token_for(hub, "resp")
        chosen = await c.put("/api/me/language", json={"language": "cs"},
                             headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert chosen.status_code == 204
        czech = (await c.get("/respond")).text
    assert (
        '<html lang="cs">' in czech and "Mimo pohotovost" in czech and "Zahájit pohotovost" in czech
    )
    assert '"Waiting for alerts.' in czech  # the scripts' catalogue is on the page
