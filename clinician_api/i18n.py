"""Languages of the screens: gettext catalogues (``locale/<lang>/LC_MESSAGES/messages.po``,
read with Babel), chosen per user; Czech by default for patients and nurses (village kiosk
staff), English for the rest.

Pages mark text as ``{{_ Text}}``; scripts call ``t("Text")`` against ``window.I18N``, the
page's catalogue, injected when the page is served. msgids are the English text.
"""

from __future__ import annotations

import html
import json
import re
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

from patient_hub.accounts.models import Role
from telemed_core.explanations import KIND_NAMES, TEMPLATES

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("cs", "en")
CZECH_BY_DEFAULT = frozenset({Role.PATIENT, Role.NURSE})
_MARK = re.compile(r"\{\{_ (.+?)\}\}")


@cache
def catalogue(language: str) -> dict[str, str]:
    """msgid -> translation of ``language`` (English: empty, the msgids are English)."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not path.exists():
        return {}
    with path.open("rb") as f:
        return {str(m.id): str(m.string) for m in read_po(f, locale=language) if m.id and m.string}


def language_for(role: Role, chosen: str | None) -> str:
    """The user's own choice, else their role's default."""
    if chosen in LANGUAGES:
        return str(chosen)
    return "cs" if role in CZECH_BY_DEFAULT else "en"


def visitor_language(chosen: str | None, accept_language: str | None) -> str:
    """The language of a page shown before sign-in (who it is for is not known yet): the
    visitor's own choice (``?lang=``), else the browser's preference between Czech and English
    (``Accept-Language``, by q-value), else English."""
    if chosen in LANGUAGES:
        return str(chosen)
    best, best_q = "en", 0.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        lang = tag.strip().lower().split("-")[0]
        try:
            q = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            continue
        if lang in LANGUAGES and q > best_q:
            best, best_q = lang, q
    return best


def translate_sentence(text: str, language: str) -> str:
    """``text`` in ``language`` when the catalogue has it, also when it carries numbers: a msgid
    with ``{0}``, ``{1}`` ... placeholders matches the English sentence with any numbers there."""
    messages = catalogue(language)
    if text in messages or not messages:
        return messages.get(text, text)
    for msgid, msgstr in _numbered(language):
        found = msgid.fullmatch(text)
        if found:
            return msgstr.format(*found.groups())
    return text


@cache
def _numbered(language: str) -> list[tuple[re.Pattern[str], str]]:
    return [
        (re.compile(re.escape(k).replace(r"\{0\}", "(\\d+)").replace(r"\{1\}", "(\\d+)")), v)
        for k, v in catalogue(language).items()
        if "{0}" in k
    ]


def page_markers(text: str) -> list[str]:
    return _MARK.findall(text)


def render_page(text: str, language: str) -> str:
    """Translate a page's markers, set ``<html lang>``, and give its scripts the catalogue."""
    messages = catalogue(language)
    out = _MARK.sub(lambda m: html.escape(messages.get(m.group(1), m.group(1)), quote=False), text)
    out = out.replace('<html lang="en">', f'<html lang="{language}">', 1)
    # A JSON data block, not an inline script: the Content-Security-Policy runs only the app's
    # own script files, and common.js reads the catalogue from here.
    # The rule explanations' English templates (their msgids are in the catalogue), so that
    # common.js explain() renders a finding's or an alert's key and values in this language.
    explain = {"templates": TEMPLATES, "kinds": KIND_NAMES}
    script = (
        '<script type="application/json" id="i18n-catalogue">'
        + json.dumps(messages, ensure_ascii=False).replace("</", "<\\/")
        + "</script>\n"
        + '<script type="application/json" id="i18n-explain">'
        + json.dumps(explain, ensure_ascii=False).replace("</", "<\\/")
        + "</script>"
    )
    return out.replace("<script ", script + "\n<script ", 1)


def WEB_TEXTS() -> list[str]:  # noqa: N802 - reads like the constant it stands for
    """The translated screens' pages and scripts (for the catalogue completeness test)."""
    web = Path(__file__).resolve().parent / "web"
    names = (
        "endpoints.py",  # the header's link to the admin screens
        "login.html",
        "me.html",
        "monitor.html",
        "patient.html",
        "static/me.js",
        "static/common.js",
        "static/patient.js",
        "static/monitor.js",
        "admin.html",
        "account.html",
        "static/admin.js",
        "static/account.js",
        "static/thresholds.js",
        "static/alerts.js",
        "static/admin_devices.js",
        "respond.html",
        "dispatch.html",
        "static/respond.js",
        "static/dispatch.js",
        "static/minimap.js",
    )
    return [(web / n).read_text(encoding="utf-8") for n in names]
