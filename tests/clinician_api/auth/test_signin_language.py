"""The sign-in page speaks the visitor's language before anyone is known: their choice
(``?lang=``, kept through the form), else the browser's Czech-or-English preference."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

CZECH_BROWSER = {"Accept-Language": "cs-CZ,cs;q=0.9,en;q=0.8"}


@pytest.mark.parametrize(
    ("headers", "query", "lang", "heading"),
    [
        (CZECH_BROWSER, "", "cs", "Přihlášení do Telemedu"),
        ({"Accept-Language": "en-GB,en;q=0.9"}, "", "en", "Telemed sign-in"),
        ({}, "", "en", "Telemed sign-in"),
        (CZECH_BROWSER, "?lang=en", "en", "Telemed sign-in"),
        ({"Accept-Language": "de-DE,en;q=0.5"}, "?lang=cs", "cs", "Přihlášení do Telemedu"),
        ({"Accept-Language": "de-DE,en;q=0.5,cs;q=0.7"}, "", "cs", "Přihlášení do Telemedu"),
        ({}, "?lang=xx", "en", "Telemed sign-in"),
    ],
)
async def test_the_page_is_in_the_visitors_language(
    hub: Any, headers: dict[str, str], query: str, lang: str, heading: str
) -> None:
    async with httpx.AsyncClient(base_url=hub.url, headers=headers) as c:
        page = await c.get("/login" + query)
    assert page.status_code == 200
    assert f'<html lang="{lang}">' in page.text and heading in page.text
    assert f'name="lang" value="{lang}"' in page.text  # the form answers in the same language


async def test_a_wrong_password_and_throttling_are_told_in_czech(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    async with httpx.AsyncClient(base_url=hub.url) as c:
        pages = [
            await c.post("/login", data={"username": "nurse-a", "password": f"x{i}", "lang": "cs"})
            for i in range(6)
        ]
        expired = await c.get("/login?error=expired", headers=CZECH_BROWSER)
    assert pages[0].status_code == 401
    assert "Nesprávné uživatelské jméno nebo heslo." in pages[0].text
    assert pages[-1].status_code == 429
    assert "Příliš mnoho neúspěšných přihlášení: zkuste to znovu za " in pages[-1].text
    assert "Vaše přihlášení vypršelo" in expired.text


async def test_the_language_links_keep_where_the_visitor_was_going(hub: Any) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as c:
        page = await c.get("/login?next=/patients/p1")
    assert 'href="/login?lang=cs&amp;next=/patients/p1"' in page.text
    assert 'name="next" value="/patients/p1"' in page.text
