"""Unaccepted alerts escalate on durable timers, on time, once, also across a restart."""

from __future__ import annotations

from patient_hub.bus.base import TOPIC_FINDINGS
from tests.alerts.conftest import AlertRig
from tests.alerts.helpers import T0, delivery, episodes, events, finding


async def _arrest(rig: AlertRig) -> int:
    payload = {"findings": [finding("ventricular_flutter_fib", T0)]}
    await rig.worker().handle(TOPIC_FINDINGS, [delivery(payload)])
    [ep] = await episodes(rig.hub)
    return int(ep.id)


async def test_an_unaccepted_high_alert_escalates_after_its_timeout(rig: AlertRig) -> None:
    alert_id = await _arrest(rig)
    worker = rig.worker()
    rig.clock.advance(119)
    await worker.fire_timers()
    assert (await episodes(rig.hub))[0].tier == 0
    rig.clock.advance(2)
    await worker.fire_timers()
    [ep] = await episodes(rig.hub)
    assert ep.tier == 1
    assert await events(rig.hub, alert_id) == ["raised", "escalated"]


async def test_escalation_survives_a_restart_in_the_middle_of_the_timeout(rig: AlertRig) -> None:
    alert_id = await _arrest(rig)
    rig.clock.advance(60)
    await rig.worker("before-restart").fire_timers()
    rig.clock.advance(61)
    restarted = rig.worker("after-restart")  # nothing in memory: the timer is in the database
    await restarted.fire_timers()
    await restarted.fire_timers()
    assert await events(rig.hub, alert_id) == ["raised", "escalated"]


async def test_escalation_walks_the_chain_to_the_supervisor(rig: AlertRig) -> None:
    await _arrest(rig)
    worker = rig.worker()
    for seconds in (121, 181):
        rig.clock.advance(seconds)
        await worker.fire_timers()
    [ep] = await episodes(rig.hub)
    assert ep.tier == 2  # nurse → cardiologist → supervisor


async def test_an_undelivered_high_alert_raises_a_technical_alarm_after_the_chain(
    rig: AlertRig,
) -> None:
    await _arrest(rig)
    worker = rig.worker()
    for seconds in (121, 181, 301):
        rig.clock.advance(seconds)
        await worker.fire_timers()
    eps = await episodes(rig.hub)
    assert [(e.rule, e.category) for e in eps] == [
        ("cardiac_arrest", "clinical"),
        ("undelivered_alert", "technical"),
    ]
