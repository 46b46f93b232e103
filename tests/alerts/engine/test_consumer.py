"""The alert worker turns readings and findings into episodes: one per condition, idempotent."""

from __future__ import annotations

from datetime import timedelta

from patient_hub.bus.base import TOPIC_FINDINGS
from tests.alerts.conftest import AlertRig
from tests.alerts.helpers import T0, delivery, episodes, events, feed, finding, spo2_series


async def test_sixty_seconds_of_low_spo2_open_one_medium_episode(rig: AlertRig) -> None:
    worker = rig.worker()
    await feed(worker, {"readings": spo2_series([88] * 90)})
    [ep] = await episodes(rig.hub)
    assert (ep.rule, ep.priority, ep.state, ep.category) == (
        "desaturation",
        "medium",
        "active",
        "clinical",
    )
    assert ep.explanation["threshold"]["trigger"] == 90.0
    assert ep.explanation["persistence"]["required_s"] == 60.0


async def test_reprocessing_the_same_batch_pages_nobody_again(rig: AlertRig) -> None:
    payload = {"readings": spo2_series([88] * 90)}
    await feed(rig.worker("w1"), payload)
    await feed(rig.worker("w2"), payload)  # e.g. after a crash
    [ep] = await episodes(rig.hub)
    assert await events(rig.hub, ep.id) == ["raised"]


async def test_the_same_finding_twice_is_one_episode_with_one_event(rig: AlertRig) -> None:
    worker = rig.worker()
    payload = {"findings": [finding("atrial_fibrillation", T0, severity="medium")]}
    await worker.handle(TOPIC_FINDINGS, [delivery(payload)])
    await worker.handle(TOPIC_FINDINGS, [delivery(payload)])
    [ep] = await episodes(rig.hub)
    assert await events(rig.hub, ep.id) == ["raised"]
    assert ep.explanation["suppressed_duplicates"] == 0


async def test_a_second_finding_of_an_open_condition_is_a_suppressed_duplicate(
    rig: AlertRig,
) -> None:
    worker = rig.worker()
    for minutes in (0, 5):
        at = T0 + timedelta(minutes=minutes)
        payload = {"findings": [finding("atrial_fibrillation", at, severity="medium")]}
        await worker.handle(TOPIC_FINDINGS, [delivery(payload)])
    [ep] = await episodes(rig.hub)
    assert ep.explanation["suppressed_duplicates"] == 1
    assert len(ep.explanation["contributing"]) == 2


async def test_a_medium_episode_resolves_itself_when_spo2_recovers_above_the_clear_level(
    rig: AlertRig,
) -> None:
    worker = rig.worker()
    await feed(worker, {"readings": spo2_series([88] * 61 + [91] * 30)})
    [ep] = await episodes(rig.hub)
    assert ep.state == "active"  # inside the hysteresis band: still open
    later = spo2_series([94] * 3, start=T0 + timedelta(seconds=91))
    await feed(worker, {"readings": later})
    [ep] = await episodes(rig.hub)
    assert (ep.state, ep.outcome, ep.condition) == ("resolved", "condition_cleared", "cleared")


async def test_a_high_episode_latches_after_the_condition_clears(rig: AlertRig) -> None:
    worker = rig.worker()
    await feed(worker, {"readings": spo2_series([83, 83, 95, 95])})
    [ep] = await episodes(rig.hub)
    assert (ep.priority, ep.state, ep.condition) == ("high", "active", "cleared")


async def test_a_sustained_low_finding_only_adds_to_the_reading_rules_desaturation(
    rig: AlertRig,
) -> None:
    worker = rig.worker()
    low = {"findings": [finding("spo2_sustained_low", T0, severity="medium")]}
    await worker.handle(TOPIC_FINDINGS, [delivery(low)])
    assert await episodes(rig.hub) == []  # the reading rule owns the opening
    await feed(worker, {"readings": spo2_series([88] * 70)})
    later = {"findings": [finding("spo2_sustained_low", T0 + timedelta(seconds=1))]}
    await worker.handle(TOPIC_FINDINGS, [delivery(later)])
    [ep] = await episodes(rig.hub)
    assert ep.explanation["threshold"]["provenance"]["source"] == "programme default"
    assert [c["kind"] for c in ep.explanation["contributing"]] == ["spo2", "spo2_sustained_low"]
