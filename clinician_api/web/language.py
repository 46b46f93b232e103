"""``PUT /api/me/language``: the signed-in user's choice of language for the screens."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel

from clinician_api.deps import CurrentPrincipal, Session
from patient_hub.accounts.models import User

router = APIRouter(tags=["auth"])


class LanguageIn(BaseModel):
    language: Literal["cs", "en"]


@router.put("/api/me/language", status_code=204)
async def set_language(body: LanguageIn, session: Session, who: CurrentPrincipal) -> Response:
    user = await session.get(User, who.user_id)
    if user is not None:
        user.language = body.language
    return Response(status_code=204)
