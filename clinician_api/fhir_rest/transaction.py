"""``POST /fhir``: PHD-IG transaction (all or nothing) and batch Bundles.

Who may post (``patient_hub.fhir.transaction.plan.UPLOAD_ROLES``): admins and nurses with their
bearer token, for the patients they see; an enrolled gateway with HTTP Basic
``bridge_id:token`` (its bridge credential), for the patients it may send for. Everyone else 403.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter
from sqlalchemy.exc import IntegrityError

from clinician_api.deps import COOKIE_NAME, get_hub, get_settings, principal_from_token
from clinician_api.fhir_rest.outcome import (
    ISSUE_CODES,
    FhirError,
    fhir_response,
    operation_outcome,
)
from patient_hub.bus.base import TOPIC_READINGS
from patient_hub.bus.partitions import publish_for_analysis
from patient_hub.db import unit_of_work
from patient_hub.fhir.transaction.parse import parse_bundle, parse_entry
from patient_hub.fhir.transaction.plan import MAX_ENTRIES, Applied, EntryResponse, Plan, Uploader
from patient_hub.fhir.transaction.storage import apply
from patient_hub.fhir.transaction.uploaders import uploader_for_gateway, uploader_for_user
from patient_hub.runtime import HubContext
from telemed_core.errors import InvalidInput, NotAuthenticated, TelemedError
from telemed_core.values import Reading

router = APIRouter(tags=["fhir"])
_readings_json: TypeAdapter[list[Reading]] = TypeAdapter(list[Reading])


async def current_uploader(request: Request) -> Uploader:
    """A user (bearer token or sign-in cookie) or a gateway (HTTP Basic bridge credential)."""
    hub = get_hub(request)
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    async with unit_of_work(hub.sessions) as session:
        if scheme.lower() == "basic":
            bridge_id, token = _basic(credential)
            return await uploader_for_gateway(session, bridge_id, token, hub.clock())
        bearer = credential if scheme.lower() == "bearer" else request.cookies.get(COOKIE_NAME)
        settings = get_settings(request)
        who = await principal_from_token(
            session, settings.secret_key, bearer, idle_timeout_s=settings.idle_timeout_s
        )
        return await uploader_for_user(session, who)


def _basic(credential: str) -> tuple[str, str]:
    try:
        bridge_id, colon, token = (
            base64.b64decode(credential, validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        bridge_id, colon, token = "", "", ""
    if not colon:
        raise NotAuthenticated("HTTP Basic credentials must be bridge_id:token")
    return bridge_id, token


async def _body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidInput("the body is not JSON") from None


@router.post("/fhir", summary="Transaction or batch Bundle (PHD IG)")
@router.post("/fhir/", include_in_schema=False)
async def post_bundle(
    request: Request, uploader: Annotated[Uploader, Depends(current_uploader)]
) -> JSONResponse:
    """Process a Bundle; answer with a transaction-response (or batch-response) Bundle."""
    hub = get_hub(request)
    body = await _body(request)
    if isinstance(body, dict) and body.get("type") == "batch":
        return await _batch(hub, body, uploader)
    plan = parse_bundle(body)
    applied = await _apply(hub, plan, uploader)
    await _publish(hub, uploader, applied.stored)
    return fhir_response(_response_bundle("transaction-response", applied.responses))


async def _apply(hub: HubContext, plan: Plan, uploader: Uploader) -> Applied:
    """One database transaction: everything or nothing."""
    try:
        async with hub.write_lock, unit_of_work(hub.sessions) as session:
            return await apply(session, plan, uploader, hub.clock())
    except IntegrityError:
        raise FhirError(409, "a concurrent request changed the same data; retry") from None


async def _publish(hub: HubContext, uploader: Uploader, stored: list[Reading]) -> None:
    """After commit, exactly like bridge ingest, so the readings flow through the same processing."""
    if stored:
        payload = _readings_json.dump_python(stored, mode="json")
        await publish_for_analysis(hub.bus, TOPIC_READINGS, uploader.source, payload)


async def _batch(hub: HubContext, body: dict[str, Any], uploader: Uploader) -> JSONResponse:
    """Each entry on its own (its own transaction); a failed entry gets its OperationOutcome."""
    parse_bundle({**body, "entry": []})  # the envelope
    entries = body.get("entry") or []
    if len(entries) > MAX_ENTRIES:
        raise InvalidInput(f"at most {MAX_ENTRIES} entries per Bundle")
    responses: list[dict[str, Any]] = []
    stored: list[Reading] = []
    for i, entry in enumerate(entries):
        try:
            applied = await _apply(hub, parse_entry(i, entry), uploader)
        except TelemedError as exc:
            responses.append(_error_entry(exc.status_code, exc.message))
        except FhirError as exc:
            responses.append(_error_entry(exc.status, exc.diagnostics))
        else:
            responses += [r.to_fhir() for r in applied.responses]
            stored += applied.stored
    await _publish(hub, uploader, stored)
    entries = [{"response": r} for r in responses]
    return fhir_response({"resourceType": "Bundle", "type": "batch-response", "entry": entries})


def _error_entry(status: int, message: str) -> dict[str, Any]:
    return {
        "status": str(status),
        "outcome": operation_outcome(message, ISSUE_CODES.get(status, "processing")),
    }


def _response_bundle(kind: str, responses: list[EntryResponse]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [{"response": r.to_fhir()} for r in responses],
    }
