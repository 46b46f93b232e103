"""During VF or asystole the rhythm findings fold into one cardiac-arrest episode."""

from __future__ import annotations

from datetime import timedelta

from patient_hub.bus.base import TOPIC_FINDINGS
from tests.alerts.conftest import AlertRig
from tests.alerts.helpers import T0, delivery, episodes, finding


def _batch(*kinds_and_offsets: tuple[str, float]) -> dict[str, object]:
    return {"findings": [finding(k, T0 + timedelta(seconds=s)) for k, s in kinds_and_offsets]}


def open_pages(eps: list[object]) -> list[tuple[str, str]]:
    return [(e.kind, e.priority) for e in eps if e.state not in ("merged", "pending")]  # type: ignore[attr-defined]


async def test_vf_with_vt_brady_and_pause_in_one_batch_is_one_cardiac_arrest(rig: AlertRig) -> None:
    payload = _batch(("ventricular_tachycardia", 0), ("ventricular_flutter_fib", 2),
                     ("extreme_bradycardia", 3), ("pause", 4))  # fmt: skip
    await rig.worker().handle(TOPIC_FINDINGS, [delivery(payload)])
    eps = await episodes(rig.hub)
    assert open_pages(eps) == [("cardiac_arrest", "high")]
    contributing = {c["kind"] for c in eps[0].explanation["contributing"]}
    assert contributing == {
        "ventricular_flutter_fib",
        "ventricular_tachycardia",
        "extreme_bradycardia",
        "pause",
    }


async def test_vt_that_came_first_is_merged_into_the_arrest_before_it_pages(rig: AlertRig) -> None:
    worker = rig.worker()
    await worker.handle(TOPIC_FINDINGS, [delivery(_batch(("ventricular_tachycardia", 0)))])
    rig.clock.advance(3)
    await worker.fire_timers()  # the VT's hold (10 s) is not over: nothing pages
    await worker.handle(TOPIC_FINDINGS, [delivery(_batch(("ventricular_flutter_fib", 3)))])
    rig.clock.advance(30)
    await worker.fire_timers()
    eps = await episodes(rig.hub)
    assert open_pages(eps) == [("cardiac_arrest", "high")]
    vt = next(e for e in eps if e.kind == "ventricular_tachycardia")
    assert (vt.state, vt.merged_into) == ("merged", eps[-1].id)


async def test_vt_alone_pages_after_its_hold(rig: AlertRig) -> None:
    worker = rig.worker()
    await worker.handle(TOPIC_FINDINGS, [delivery(_batch(("ventricular_tachycardia", 0)))])
    rig.clock.advance(11)
    await worker.fire_timers()
    assert open_pages(await episodes(rig.hub)) == [("ventricular_tachycardia", "high")]


async def test_asystole_is_a_cardiac_arrest_too(rig: AlertRig) -> None:
    await rig.worker().handle(TOPIC_FINDINGS, [delivery(_batch(("asystole", 0)))])
    assert open_pages(await episodes(rig.hub)) == [("cardiac_arrest", "high")]
