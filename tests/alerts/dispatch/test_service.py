"""The dispatch algorithm on a real database: who is offered, in which order, what happens next."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alerts.dispatch import service
from alerts.dispatch.models import Incident, Offer
from alerts.dispatch.policy import DispatchPolicy
from telemed_core.errors import Conflict, NotFound
from tests.alerts.dispatch.helpers import (
    CENTRE,
    DISPATCHER,
    NOW,
    add_responder,
    aed_at,
)

POLICY = DispatchPolicy(first_n=1, radius_m=500, widen=2, max_radius_m=4000, max_phases=4,
                        phase_s=60, max_accept=2)  # fmt: skip


async def fifty(session: AsyncSession) -> None:
    """50 responders 100 m .. 5 km around CENTRE, nearest first by number, in all directions."""
    for i in range(50):
        await add_responder(session, i, 100.0 + i * 100.0, angle_deg=i * 37.0)


async def open_incident(session: AsyncSession, policy: DispatchPolicy = POLICY) -> Incident:
    inc, _ = await service.create_incident(
        session, policy, DISPATCHER, latitude=CENTRE[0], longitude=CENTRE[1],
        address="Masarykovo náměstí 1, Ostrava", summary="collapsed man", now=NOW,
    )  # fmt: skip
    return inc


async def offered(session: AsyncSession, inc: Incident) -> list[tuple[str, str]]:
    rows = await session.scalars(
        select(Offer).where(Offer.incident_id == inc.id).order_by(Offer.id)
    )
    return [(o.responder_id, o.state) for o in rows]


async def test_the_nearest_available_responder_gets_the_first_offer(session: AsyncSession) -> None:
    await fifty(session)
    inc = await open_incident(session)
    assert await offered(session, inc) == [("usr_r000", "offered")]


async def test_the_first_phase_offers_the_n_nearest(session: AsyncSession) -> None:
    await fifty(session)
    policy = DispatchPolicy(first_n=3, radius_m=500, max_accept=2)
    inc = await open_incident(session, policy)
    assert [r for r, _ in await offered(session, inc)] == ["usr_r000", "usr_r001", "usr_r002"]


async def test_a_decline_passes_the_offer_to_the_next_nearest(session: AsyncSession) -> None:
    await fifty(session)
    inc = await open_incident(session)
    notices = await service.decline(session, POLICY, responder(0), inc.id, NOW)
    assert await offered(session, inc) == [("usr_r000", "declined"), ("usr_r001", "offered")]
    assert any(n.frame.get("type") == "offer" and n.to == ("usr_r001",) for n in notices.items)


async def test_nobody_accepting_within_t_widens_the_search(session: AsyncSession) -> None:
    for i, d in enumerate((450.0, 900.0, 1800.0)):
        await add_responder(session, i, d)
    inc = await open_incident(session)
    assert await offered(session, inc) == [("usr_r000", "offered")]
    await service.advance_due(session, POLICY, NOW + timedelta(seconds=59))
    assert await offered(session, inc) == [("usr_r000", "offered")]  # not yet due
    await service.advance_due(session, POLICY, NOW + timedelta(seconds=60))
    # phase 2: radius 1000 m, 2 more; r002 at 1.8 km is still outside
    assert await offered(session, inc) == [("usr_r000", "expired"), ("usr_r001", "offered")]
    assert inc.phase == 1
    await service.advance_due(session, POLICY, NOW + timedelta(seconds=120))
    assert ("usr_r002", "offered") in await offered(session, inc)


async def test_off_duty_stale_busy_and_unvetted_responders_are_never_offered(
    session: AsyncSession,
) -> None:
    from datetime import date

    await add_responder(session, 0, 50.0, on_duty=False)
    await add_responder(session, 1, 60.0, position_age_s=3600)
    await add_responder(session, 2, 70.0, incident_id="inc_other")
    await add_responder(session, 3, 80.0, vetted_until=date(2026, 1, 1))
    await add_responder(session, 4, 90.0, vetted_until=None)
    await add_responder(session, 5, 3000.0)  # the only one who may be offered
    inc = await open_incident(session)
    for k in range(1, 5):
        await service.advance_due(session, POLICY, NOW + timedelta(seconds=60 * k))
    assert [r for r, _ in await offered(session, inc)] == ["usr_r005"]


async def test_a_responder_with_an_open_offer_elsewhere_is_not_offered_another(
    session: AsyncSession,
) -> None:
    await add_responder(session, 0, 100.0)
    await add_responder(session, 1, 200.0)
    first = await open_incident(session)
    second = await open_incident(session)
    assert [r for r, _ in await offered(session, first)] == ["usr_r000"]
    assert [r for r, _ in await offered(session, second)] == ["usr_r001"]


async def test_the_first_to_accept_does_cpr_and_the_second_fetches_the_nearest_open_aed(
    session: AsyncSession,
) -> None:
    await add_responder(session, 0, 100.0, angle_deg=0)
    await add_responder(session, 1, 150.0, angle_deg=90)
    session.add_all([
        aed_at("aed-closed", 0, 120, hours="Mo-Fr 13:00-17:00"),  # nearest, but closed at 11:00
        aed_at("aed-open", 0, 300, hours="Mo-Fr 08:00-12:00"),
        aed_at("aed-far", 0, -900),
    ])  # fmt: skip
    await session.flush()
    inc = await open_incident(session, DispatchPolicy(first_n=2, radius_m=500, max_accept=2))
    first, _ = await service.accept(session, POLICY, responder(0), inc.id, NOW)
    second, _ = await service.accept(session, POLICY, responder(1), inc.id, NOW)
    assert (first.task, first.aed_id) == ("cpr", None)
    assert (second.task, second.aed_id) == ("aed", "aed-open")
    assert inc.state == "accepted"


async def test_the_aed_runner_gets_the_closed_one_when_its_hours_allow(
    session: AsyncSession,
) -> None:
    await add_responder(session, 0, 100.0, angle_deg=0)
    await add_responder(session, 1, 150.0, angle_deg=90)
    session.add_all(
        [aed_at("aed-near", 0, 120, hours="Mo-Fr 08:00-12:00"), aed_at("aed-open", 0, 300)]
    )
    await session.flush()
    inc = await open_incident(session, DispatchPolicy(first_n=2, radius_m=500, max_accept=2))
    await service.accept(session, POLICY, responder(0), inc.id, NOW)
    second, _ = await service.accept(session, POLICY, responder(1), inc.id, NOW)
    assert second.aed_id == "aed-near"


async def test_when_k_have_accepted_the_other_offers_are_withdrawn(session: AsyncSession) -> None:
    for i in range(3):
        await add_responder(session, i, 100.0 + 10 * i)
    inc = await open_incident(session, DispatchPolicy(first_n=3, radius_m=500, max_accept=2))
    await service.accept(session, POLICY, responder(0), inc.id, NOW)
    _, notices = await service.accept(session, POLICY, responder(1), inc.id, NOW)
    assert ("usr_r002", "filled") in await offered(session, inc)
    assert any(n.to == ("usr_r002",) and n.frame["reason"] == "filled" for n in notices.items)
    with pytest.raises(Conflict, match="places are taken"):
        await service.accept(session, POLICY, responder(2), inc.id, NOW)


async def test_closing_stands_everyone_down_and_frees_them(session: AsyncSession) -> None:
    for i in range(2):
        await add_responder(session, i, 100.0 + 10 * i)
    inc = await open_incident(session, DispatchPolicy(first_n=2, radius_m=500, max_accept=2))
    await service.accept(session, POLICY, responder(0), inc.id, NOW)
    notices = await service.close(session, DISPATCHER, inc.id, "stood_down", NOW)
    assert inc.state == "closed" and inc.outcome == "stood_down"
    assert await offered(session, inc) == [("usr_r000", "accepted"), ("usr_r001", "withdrawn")]
    closed = [n for n in notices.items if n.frame["type"] == "closed"]
    assert set(closed[0].to) == {"usr_r000", "usr_r001"}
    again = await open_incident(session, DispatchPolicy(first_n=2, radius_m=500))
    assert [r for r, _ in await offered(session, again)] == ["usr_r000", "usr_r001"]


async def test_an_answer_to_an_unknown_incident_is_not_found(session: AsyncSession) -> None:
    await add_responder(session, 0, 100.0)
    with pytest.raises(NotFound):
        await service.accept(session, POLICY, responder(0), "inc_nope", NOW)


def responder(i: int):  # type: ignore[no-untyped-def]
    from tests.alerts.dispatch.helpers import responder_principal

    return responder_principal(i)
