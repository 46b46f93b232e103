"""Rule explanations as a key and values: the English sentence stored as before, and the same
key rendered in Czech for a Czech reader (numbers, dates and kinds in the reader's form)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from clinician_api.explain import render_explanation
from clinician_api.i18n import catalogue
from telemed_core.explanations import KIND_NAMES, TEMPLATES, english, explained, note, why
from telemed_signal.findings import Finding, Severity
from telemed_signal.news2 import _RESPONSES, News2Risk

PRAGUE = ZoneInfo("Europe/Prague")


def test_a_finding_keeps_its_english_sentence_and_carries_key_and_values() -> None:
    f = Finding("p1", "pause", datetime(2026, 12, 1, tzinfo=UTC), None, Severity.HIGH, "m",
                **explained("pause_ongoing", pause_s=3.2))  # fmt: skip
    assert f.explanation == "No beat for 3.2 s (pause), still without a beat."
    assert (f.explanation_key, f.explanation_args) == ("pause_ongoing", {"pause_s": 3.2})
    assert why("device_heard", device_id="ox-1")["why"] == "ox-1 heard again"
    assert english("baseline_above", {"kind": "heart_rate", "value": 131, "z": 4.2, "median": 72,
                                      "n": 40, "since_date": "2026-11-01"}).startswith(
        "Heart rate 131 is 4.2 robust SD above"
    )  # fmt: skip


def test_a_czech_reader_gets_czech_with_decimal_commas_and_local_dates() -> None:
    assert render_explanation("pause", {"pause_s": 3.2}, "cs", PRAGUE) == (
        "Žádný stah po dobu 3,2 s (pauza)."
    )
    text = render_explanation(
        "no_data", {"last_at": "2026-12-01T06:30:00+00:00", "limit_h": 24}, "cs", PRAGUE
    )
    assert text == "žádná data od 1. 12. 2026 7:30 (limit 24 h)"
    limit = render_explanation("limit_breach", {"kind": "heart_rate", "op": ">", "trigger": 125,
                               "unit": "/min", "duration_s": 61, "persistence_s": 60}, "cs", PRAGUE)  # fmt: skip
    assert limit == "Tepová frekvence > 125 /min po dobu 61 s (požadované trvání 60 s)"
    assert (
        render_explanation("pause", {"pause_s": 3.2}, "en", PRAGUE) == "No beat for 3.2 s (pause)."
    )
    assert render_explanation("no-such-key", {}, "cs", PRAGUE) is None


@pytest.mark.parametrize("key", sorted(TEMPLATES))
def test_every_template_has_a_czech_translation_with_the_same_fields(key: str) -> None:
    czech = catalogue("cs").get(TEMPLATES[key])
    assert czech, f"no Czech for {TEMPLATES[key]!r}"
    fields = re.compile(r"\{(\w+)\}")
    assert sorted(fields.findall(czech)) == sorted(fields.findall(TEMPLATES[key]))


def test_kind_names_and_news2_phrases_have_czech_translations() -> None:
    czech = catalogue("cs")
    phrases = [
        *KIND_NAMES.values(),
        *(r.value for r in News2Risk),
        *(r for r, _ in _RESPONSES.values()),
    ]
    assert [p for p in phrases if p not in czech] == []


def test_optional_clauses_are_keys_too_and_render_in_czech() -> None:
    args = {"pause_s": 4.0, "leads": "II, V", "ongoing_note": note("note_ongoing"),
            "tolerance_note": None, "pulse_note": note("note_no_pulse", channels="ABP")}  # fmt: skip
    assert english("lethal_asystole", args) == (
        "No QRS for 4 s in II, V (ongoing); no pulse wave in ABP either."
    )
    assert render_explanation("lethal_asystole", args, "cs", PRAGUE) == (
        "Žádný QRS po dobu 4 s ve svodech II, V (trvá); ani v ABP žádná pulzová vlna."
    )
