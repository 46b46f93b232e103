"""``telemed aed import``: read a registry file, validate it whole, upsert in one transaction."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerts.dispatch.aed_import import parse_aeds
from alerts.dispatch.service import import_aeds
from clinician_api.migrate import upgrade_async
from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
from telemed_core.errors import InvalidInput


async def import_file(database_url: str, text: str, filename: str, timezone: str) -> int:
    """Import the registry ``text`` (CSV, or GeoJSON by ``filename``); the number of AEDs."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"{timezone!r} is not an IANA time zone") from None
    records = parse_aeds(text, filename)
    await upgrade_async(database_url)
    engine = make_engine(database_url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as session:
            return await import_aeds(session, records, timezone)
    finally:
        await engine.dispose()
