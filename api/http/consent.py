"""Writes through k-of-n consent: ``POST /consent/requests/terms``, ``…/revoke`` and
``…/description`` (a SetTerms, RevokeTerms or SetDescription request for keyholders to sign
offline, as ``heritage consent request terms|revoke|describe`` makes them) and
``POST /consent/submit`` (a request with its signatures, sent to the registry as
``heritage consent submit`` sends it). Both are signed requests by a keyholder (docs/api.md);
the submitter must be one of the request's own keyholders. The server relays the
transaction with its sender (on a local development chain, anvil's dev account)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from api.http.auth import Signed, require_keyholder
from api.http.errors import Forbidden, error_responses
from api.http.service import Service
from ledger.errors import UsageError

__all__ = ["router"]

router = APIRouter(tags=["consent"])

_KEY = "0x" + "ab" * 32


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"item": _KEY}})
    item: str = Field(min_length=1, max_length=200, description="a CID or an item's 0x id")


class TermsIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"item": _KEY, "terms": {"type": "heritage/terms", "version": 1}}
        },
    )
    item: str = Field(min_length=1, max_length=200, description="a CID or an item's 0x id")
    terms: dict[str, Any] = Field(description="the next terms document (docs/terms.md)")


class DescriptionIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "item": _KEY,
                "description": {
                    "type": "heritage/description",
                    "version": 1,
                    "title": {"en": "Anchor stone"},
                },
            }
        },
    )
    item: str = Field(min_length=1, max_length=200, description="a CID or an item's 0x id")
    description: dict[str, Any] = Field(description="the next description (docs/description.md)")


class SubmitIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "request": {"type": "heritage/consent-request", "version": 1},
                "signatures": [{"type": "heritage/consent-signature", "version": 1}],
            }
        },
    )
    request: dict[str, Any] = Field(description="the request document")
    signatures: list[dict[str, Any]] = Field(
        min_length=1, max_length=64, description="signature documents, one per keyholder"
    )


class DocumentOut(BaseModel):
    """A consent request document, or what submitting one did (as the CLI's --json)."""

    model_config = ConfigDict(
        extra="allow", json_schema_extra={"example": {"action": "RevokeTerms", "item": _KEY}}
    )


def _request_document(
    service: Service,
    item: str,
    signed: Signed,
    terms: dict[str, Any] | None = None,
    description: dict[str, Any] | None = None,
) -> dict[str, Any]:
    import os
    import tempfile
    from pathlib import Path

    from ledger.consent.files import encode_request

    with service.registry() as registry:
        given = terms if terms is not None else description
        if given is None:
            request = registry.consent.terms_request(item, None, community=signed.community)
        else:
            # The workflows read documents from files, with their checks and limits.
            handle, name = tempfile.mkstemp(suffix=".json", dir=registry.session.temp_dir())
            path = Path(name)
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    json.dump(given, out)
                if terms is not None:
                    request = registry.consent.terms_request(item, path, community=signed.community)
                else:
                    request = registry.descriptions.request(item, path, community=signed.community)
            finally:
                path.unlink(missing_ok=True)
    if signed.signer not in request.keyholders:
        raise Forbidden("the signer is not a keyholder of the item's steward")
    document: dict[str, Any] = json.loads(encode_request(request))
    return document


def _submit(service: Service, body: SubmitIn, signed: Signed) -> dict[str, Any]:
    from ledger.consent.files import parse_request, parse_signature

    request = parse_request(json.dumps(body.request).encode(), "the request")
    if request.action == "ConsentDerivative":
        raise UsageError(
            "a derivative's consent is submitted with `heritage consent submit`: the deriving "
            "community's keyholders sign there",
        )
    if signed.signer not in request.keyholders:
        raise Forbidden(
            "the submitter is not one of the request's keyholders",
            hint="a keyholder of the community that signs the request submits it",
        )
    signatures = [
        (f"signature {n + 1}", parse_signature(json.dumps(s).encode(), f"signature {n + 1}"))
        for n, s in enumerate(body.signatures)
    ]
    with service.sending() as registry:
        result: dict[str, Any] = registry.consent.submit(request, signatures).to_json()
    return result


@router.post(
    "/consent/requests/revoke",
    response_model=DocumentOut,
    summary="A request to revoke an item's terms, for its keyholders to sign (signed)",
    responses=error_responses(400, 401, 403, 404, 409, 503),
)
async def revoke_request(
    request: Request, body: RevokeIn, signed: Annotated[Signed, Depends(require_keyholder)]
) -> dict[str, Any]:
    service: Service = request.app.state.service
    return await run_in_threadpool(_request_document, service, body.item, signed)


@router.post(
    "/consent/requests/terms",
    response_model=DocumentOut,
    summary="A request to set an item's next terms, for its keyholders to sign (signed)",
    responses=error_responses(400, 401, 403, 404, 409, 503),
)
async def terms_request(
    request: Request, body: TermsIn, signed: Annotated[Signed, Depends(require_keyholder)]
) -> dict[str, Any]:
    service: Service = request.app.state.service
    return await run_in_threadpool(_request_document, service, body.item, signed, body.terms)


@router.post(
    "/consent/requests/description",
    response_model=DocumentOut,
    summary="A request to set an item's next description, for its keyholders to sign (signed)",
    responses=error_responses(400, 401, 403, 404, 409, 503),
)
async def description_request(
    request: Request, body: DescriptionIn, signed: Annotated[Signed, Depends(require_keyholder)]
) -> dict[str, Any]:
    service: Service = request.app.state.service
    return await run_in_threadpool(
        _request_document, service, body.item, signed, None, body.description
    )


@router.post(
    "/consent/submit",
    response_model=DocumentOut,
    summary="Send a request with its keyholders' signatures to the registry (signed)",
    responses=error_responses(400, 401, 403, 404, 409, 503),
)
async def submit(
    request: Request, body: SubmitIn, signed: Annotated[Signed, Depends(require_keyholder)]
) -> dict[str, Any]:
    service: Service = request.app.state.service
    return await run_in_threadpool(_submit, service, body, signed)
