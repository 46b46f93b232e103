"""The group monitor triages in Chromium: the cohort only, a patient with an active high
finding first, then NEWS2, then staleness; filters and search; freshness from measured time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.clinician_api.patient_view.test_timeline_api import _iso, send
from tests.clinician_api.web.conftest import screenshot, serious_violations, sign_in
from tests.conftest import token_for

pytestmark = pytest.mark.browser


async def _finding(hub: Any, patient: str, kind: str, severity: str, **values: Any) -> None:
    from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
    from patient_hub.findings.repository import upsert_findings
    from telemed_signal.findings import Finding, Severity

    engine = make_engine(hub.settings.database_url)
    now = datetime.now(UTC)
    finding = Finding(
        patient_id=patient, kind=kind, start=now - timedelta(minutes=3), end=None,
        severity=Severity(severity), method="test rule", values=values,
        explanation=f"{kind} for the test",
    )  # fmt: skip
    async with unit_of_work(make_sessionmaker(engine)) as s:
        await upsert_findings(s, [finding], now)
    await engine.dispose()


@pytest.fixture
async def cohort(hub: Any, seed: Any) -> dict[str, str]:
    """cardio follows p1, p2 and p3; p2 has an active high finding, p3 a NEWS2 of 6; p1's
    newest value is 65 minutes old, the others' 5 minutes."""
    tokens: dict[str, str] = await seed(hub.settings.database_url)
    admin = await token_for(hub, "admin")
    async with httpx.AsyncClient(
        base_url=hub.url, headers={"Authorization": f"Bearer {admin}"}
    ) as c:
        for pid in ("p1", "p2"):
            r = await c.post("/api/care-team", json={"username": "cardio", "patient_id": pid})
            assert r.status_code == 201
    now = datetime.now(UTC)
    for pid in ("p1", "p2", "p3"):
        back = 60 if pid == "p1" else 0
        await send(hub, tokens[f"bridge-{pid}"], pid, [
            {"kind": "heart_rate", "value": 70.0 + i, "unit": "/min", "device_id": "ox",
             "measured_at": _iso(now - timedelta(minutes=back + 60 - 5 * i))} for i in range(12)
        ])  # fmt: skip
    await _finding(hub, "p2", "ventricular_flutter_fib", "high", hr_bpm=316)
    await _finding(hub, "p3", "news2", "medium", news2_total=6)
    return tokens


async def _order(page: Any) -> list[str]:
    return list(
        await page.eval_on_selector_all(
            ".tile:not([hidden])",
            "ts => ts.sort((a, b) => a.dataset.rank - b.dataset.rank).map(t => t.dataset.patient)",
        )
    )


async def test_a_cardiologist_sees_their_cohort_in_triage_order(
    hub: Any, cohort: dict[str, str], browser: Any
) -> None:
    page = await sign_in(browser, hub, "cardio")
    await page.locator("#status.live").wait_for(timeout=10_000)
    await page.wait_for_function("document.querySelectorAll('.tile[data-rank]').length === 3")
    assert await _order(page) == ["p2", "p3", "p1"]
    assert "sev-high" in (await page.get_attribute("#patient-p2", "class") or "")
    assert "Ventricular flutter / fibrillation" in await page.inner_text("#patient-p2 .findings")
    assert "NEWS2 6" in await page.inner_text("#patient-p3 .news2")
    await screenshot(page, "monitor-cardiologist")
    assert await serious_violations(page) == []


async def test_filters_and_search_narrow_the_tiles(
    hub: Any, cohort: dict[str, str], browser: Any
) -> None:
    page = await sign_in(browser, hub, "cardio")
    await page.wait_for_function("document.querySelectorAll('.tile[data-rank]').length === 3")
    await page.select_option("#f-alert", "high")
    assert await _order(page) == ["p2"]
    await page.select_option("#f-alert", "")
    await page.select_option("#f-point", "tmp-b")
    assert await _order(page) == ["p3"]
    await page.select_option("#f-point", "")
    await page.fill("#search", "patient p1")
    assert await _order(page) == ["p1"]
    assert "Showing 1 of 3" in await page.inner_text("#count")


async def test_an_hour_old_value_is_shown_stale_with_its_measured_age(
    hub: Any, cohort: dict[str, str], browser: Any
) -> None:
    page = await sign_in(browser, hub, "cardio")
    await page.wait_for_function("document.querySelectorAll('.tile[data-rank]').length === 3")
    tile = page.locator("#patient-p1")
    assert "stale" in (await tile.get_attribute("class") or "")
    assert "measured 1 hour ago" in await tile.locator(".age").inner_text()
    assert "stale" not in (await page.get_attribute("#patient-p2", "class") or "")


async def test_a_tile_opens_the_patient_view_by_keyboard(
    hub: Any, cohort: dict[str, str], browser: Any
) -> None:
    page = await sign_in(browser, hub, "cardio")
    await page.wait_for_function("document.querySelectorAll('.tile[data-rank]').length === 3")
    await page.locator("#patient-p2 h2 a").focus()
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/patients/p2")
