"""OperationOutcome responses: every error under /fhir is a FHIR OperationOutcome.

``FhirError(status, code, diagnostics)`` is what FHIR handlers raise; domain errors
(``TelemedError``) and request-validation errors raised under /fhir are rendered the same way by
``install(app)``. Status mapping: 400 invalid, 401 login, 403 forbidden, 404 not-found,
409 conflict, 412 precondition (conditional create matched several), 422 business-rule.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from telemed_core.errors import TelemedError, TooManyRequests

FHIR_JSON = "application/fhir+json"

#: FHIR issue-type codes for HTTP statuses (http://hl7.org/fhir/valueset-issue-type.html).
ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    409: "conflict",
    412: "conflict",
    422: "business-rule",
    500: "exception",
}


class FhirError(Exception):
    """An error that becomes an OperationOutcome with ``status``."""

    def __init__(self, status: int, diagnostics: str, code: str | None = None) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.diagnostics = diagnostics
        self.code = code or ISSUE_CODES.get(status, "processing")


def operation_outcome(diagnostics: str, code: str, severity: str = "error") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


def fhir_response(body: dict[str, Any], status: int = 200, **headers: str) -> JSONResponse:
    """A FHIR JSON response (content type application/fhir+json)."""
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers or None)


def outcome_response(status: int, diagnostics: str, code: str | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    body = operation_outcome(diagnostics, code or ISSUE_CODES.get(status, "processing"))
    return fhir_response(body, status, **headers)


def is_fhir(request: Request) -> bool:
    return request.url.path == "/fhir" or request.url.path.startswith("/fhir/")


def install(app: FastAPI, problem: Any) -> None:
    """Route errors under /fhir to OperationOutcome; elsewhere to ``problem`` (RFC 9457)."""

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if is_fhir(request):  # unknown paths and methods under /fhir are OperationOutcomes too
            return outcome_response(exc.status_code, str(exc.detail))
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(FhirError)
    async def _fhir_error(_: Request, exc: FhirError) -> JSONResponse:
        return outcome_response(exc.status, exc.diagnostics, exc.code)

    @app.exception_handler(TelemedError)
    async def _domain_error(request: Request, exc: TelemedError) -> JSONResponse:
        if is_fhir(request):
            return outcome_response(exc.status_code, exc.message)
        result: JSONResponse = problem(exc.status_code, exc.code, exc.message)
        if isinstance(exc, TooManyRequests):
            result.headers["Retry-After"] = str(exc.retry_after_s)
        return result

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        if is_fhir(request):
            return outcome_response(400, details)
        result: JSONResponse = problem(422, "invalid", details)
        return result
