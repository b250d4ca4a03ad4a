"""Writes through k-of-n consent: ``POST /consent/requests/terms``, ``…/revoke``,
``…/description``, ``…/custody`` and ``…/derivative`` and ``POST /items`` (a SetTerms,
RevokeTerms, SetDescription, RecordCustody, ConsentDerivative or RegisterItem request for
keyholders to sign offline, as ``heritage consent request`` makes them) and
``POST /consent/submit`` (a request with its signatures, sent to the registry as
``heritage consent submit`` sends it). Every one is a signed request by a keyholder
(docs/api.md); the submitter must be one of the request's own keyholders. The server holds
no keyholder's key: it relays the transaction with its sender (on a local development chain,
anvil's dev account).

``POST /items`` and ``POST /consent/requests/derivative`` are multipart uploads, streamed to a
private scratch folder and checked (:mod:`api.http.uploads`) before the registry's own
staging adds the file to the node unpinned (its ciphertext only, under terms that require
encryption) and pins it once every check has passed."""

from __future__ import annotations

import json
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Request, Security
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from api.http.auth import SIGNATURE_SCHEME, Signed, require_keyholder
from api.http.errors import Forbidden, error_responses
from api.http.service import Service
from api.http.uploads import Upload, signed_upload
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
    registration_signatures: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=64,
        description="a derivative's consent: the deriving community's keyholders' signatures "
        "of its registration (`heritage consent sign --deriving`)",
    )


class CustodyIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"item": _KEY, "action": "loan", "to": "Museum"}},
    )
    item: str = Field(min_length=1, max_length=200, description="a CID or an item's 0x id")
    action: Literal["transfer", "repatriate", "loan", "return"]
    to: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="transfer, repatriate: the receiving community (0x id or name); loan: the "
        "borrower; return: none (from the open loan's borrower)",
    )
    document: dict[str, Any] | None = Field(
        default=None, description="merged into the signed custody document"
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
        # The deriving community submits it, with its keyholders' signatures of the
        # registration; the parent steward's keyholders signed the consent.
        deriving = bytes(request.typed.message["community"])
        if signed.community != deriving:
            raise Forbidden(
                "a derivative's consent is submitted by a keyholder of the deriving community",
                hint=f"sign the request for community 0x{deriving.hex()}",
            )
        if not body.registration_signatures:
            raise UsageError(
                "registering the derivative needs k signatures of the deriving community",
                hint="send its keyholders' signatures (`heritage consent sign --deriving`) as "
                "registration_signatures; nothing was sent",
            )
    elif body.registration_signatures:
        raise UsageError(f"a {request.action} request takes no registration_signatures")
    elif signed.signer not in request.keyholders:
        raise Forbidden(
            "the submitter is not one of the request's keyholders",
            hint="a keyholder of the community that signs the request submits it",
        )
    signatures = [
        (f"signature {n + 1}", parse_signature(json.dumps(s).encode(), f"signature {n + 1}"))
        for n, s in enumerate(body.signatures)
    ]
    registration = []
    for n, document in enumerate(body.registration_signatures):
        where = f"registration signature {n + 1}"
        registration.append((where, parse_signature(json.dumps(document).encode(), where)))
    with service.sending() as registry:
        result: dict[str, Any] = registry.consent.submit(
            request, signatures, None, registration
        ).to_json()
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


# ---- custody --------------------------------------------------------------------------------

_CUSTODY_WORDS: Final = ("transfer", "repatriate", "loan", "return")


def _no_keys(address: str) -> str:
    raise UsageError(
        f"the server holds no key of {address}: an encrypted item's custody transfer re-wraps "
        "its content key, which needs a keyholder's encryption key",
        hint="make this request with `heritage consent request transfer|repatriate` where a "
        "keyholder's key is; nothing was stored",
    )


def _custody_request(service: Service, body: CustodyIn, signed: Signed) -> dict[str, Any]:
    from ledger.chain import CUSTODY_LOAN, CUSTODY_REPATRIATION, CUSTODY_RETURN, CUSTODY_TRANSFER
    from ledger.consent.files import encode_request
    from ledger.registry import SignerKeys

    action = dict(
        zip(
            _CUSTODY_WORDS,
            (CUSTODY_TRANSFER, CUSTODY_REPATRIATION, CUSTODY_LOAN, CUSTODY_RETURN),
            strict=True,
        )
    )[body.action]
    if (body.to is None) != (body.action == "return"):
        raise UsageError(
            "a transfer, repatriation or loan names `to`; a return does not",
            hint='e.g. {"item": "0x…", "action": "loan", "to": "Museum"}',
        )
    with service.registry() as registry:
        counterparty = None if body.to is None else registry.reader.resolve_community(body.to)
        # The server holds no keys: no encryption key re-wraps a sealed item here.
        keys = SignerKeys(service.settings, _no_keys, ())
        document: Any = None
        if body.document is not None:
            import os
            import tempfile
            from pathlib import Path

            handle, name = tempfile.mkstemp(suffix=".json", dir=registry.session.temp_dir())
            document = Path(name)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(body.document, out)
        try:
            request = registry.custody.request(
                body.item, action, counterparty, keys, document=document,
                community=signed.community,
            )  # fmt: skip
        finally:
            if document is not None:
                document.unlink(missing_ok=True)
    if signed.signer not in request.keyholders:
        raise Forbidden("the signer is not a keyholder of the item's steward")
    answer: dict[str, Any] = json.loads(encode_request(request))
    return answer


@router.post(
    "/consent/requests/custody",
    response_model=DocumentOut,
    summary="A custody request (transfer, repatriate, loan, return) for keyholders to sign "
    "(signed)",
    responses=error_responses(400, 401, 403, 404, 409, 503),
)
async def custody_request(
    request: Request, body: CustodyIn, signed: Annotated[Signed, Depends(require_keyholder)]
) -> dict[str, Any]:
    service: Service = request.app.state.service
    return await run_in_threadpool(_custody_request, service, body, signed)


# ---- uploads: registration and a derivative's consent --------------------------------------


def _multipart(
    properties: dict[str, dict[str, Any]], required: list[str], example: dict[str, str]
) -> dict[str, Any]:
    """The OpenAPI request body of a multipart upload (the route reads it as it streams)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": required,
                        "properties": properties,
                        "additionalProperties": False,
                    },
                    "example": example,
                }
            },
        }
    }


_FILE: Final = {
    "type": "string",
    "contentMediaType": "application/octet-stream",
    "description": "the file (streamed; under terms that require encryption, only its "
    "ciphertext reaches the node)",
}
_TERMS: Final = {"type": "string", "description": "the terms document, JSON (docs/terms.md)"}
_TERMS_EXAMPLE: Final = json.dumps({"type": "heritage/terms", "version": 1, "community": _KEY})


def _registration(service: Service, upload: Upload, signed: Signed) -> dict[str, Any]:
    from ledger.consent.files import encode_request
    from ledger.rights.description import parse_description

    assert upload.file is not None  # signed_upload refuses an upload without one
    terms = upload.document("terms")
    if terms is None:
        raise UsageError("the upload has no 'terms' part", hint="send the terms document")
    given = upload.fields.get("description")
    description = None if given is None else parse_description(given, "the description part")
    with service.registry() as registry:
        request = registry.registrations.request(
            upload.file, signed.community, terms, description=description
        )
    document: dict[str, Any] = json.loads(encode_request(request))
    return document


@router.post(
    "/items",
    response_model=DocumentOut,
    summary="Upload a file with its terms: the RegisterItem request for the community's "
    "keyholders to sign (signed)",
    responses=error_responses(400, 401, 403, 404, 409, 503),
    tags=["items"],
    openapi_extra=_multipart(
        {
            "file": _FILE,
            "terms": _TERMS,
            "description": {
                "type": "string",
                "description": "the item's description, JSON (docs/description.md)",
            },
        },
        ["file", "terms"],
        {"file": "(the file's bytes)", "terms": _TERMS_EXAMPLE},
    ),
)
async def register_request(
    request: Request, _signature: Annotated[str | None, Security(SIGNATURE_SCHEME)] = None
) -> Any:
    service: Service = request.app.state.service
    return await signed_upload(
        request,
        service.settings.data_dir / "tmp",
        "file",
        frozenset({"terms", "description"}),
        lambda upload, signed: _registration(service, upload, signed),
    )


def _flag(upload: Upload, name: str) -> bool:
    text = upload.text(name)
    if text is None or text in ("false", "0"):
        return False
    if text in ("true", "1"):
        return True
    raise UsageError(f"the part {name!r} is {text[:20]!r}, not true or false")


def _derivative(service: Service, upload: Upload, signed: Signed) -> dict[str, Any]:
    from ledger.consent.files import encode_request

    assert upload.file is not None
    parent, terms, method = upload.text("parent"), upload.document("terms"), upload.document(
        "method"
    )
    if parent is None or terms is None or method is None:
        raise UsageError(
            "a derivative's consent needs the parts parent, terms and method",
            hint="send the parent's CID or 0x id, the terms and the method document",
        )
    named = upload.text("parent_community")
    with service.registry() as registry:
        request = registry.derivatives.request(
            parent,
            upload.file,
            signed.community,
            terms,
            method,
            ai_enhanced=_flag(upload, "ai_enhanced"),
            parent_community=None if named is None else registry.reader.resolve_community(named),
        )
    document: dict[str, Any] = json.loads(encode_request(request))
    return document


@router.post(
    "/consent/requests/derivative",
    response_model=DocumentOut,
    summary="Upload a derived file: the ConsentDerivative request for the parent's steward "
    "to sign (signed by a keyholder of the deriving community)",
    responses=error_responses(400, 401, 403, 404, 409, 503),
    openapi_extra=_multipart(
        {
            "parent": {"type": "string", "description": "the parent: a CID or 0x item id"},
            "file": _FILE,
            "terms": _TERMS,
            "method": {
                "type": "string",
                "description": "how it was made, JSON (docs/derivatives.md)",
            },
            "ai_enhanced": {"type": "string", "enum": ["true", "false"]},
            "parent_community": {
                "type": "string",
                "description": "whose claim `parent` names, when several communities claim it",
            },
        },
        ["parent", "file", "terms", "method"],
        {
            "parent": _KEY,
            "file": "(the file's bytes)",
            "terms": _TERMS_EXAMPLE,
            "method": json.dumps({"method": "photogrammetry"}),
        },
    ),
)
async def derivative_request(
    request: Request, _signature: Annotated[str | None, Security(SIGNATURE_SCHEME)] = None
) -> Any:
    service: Service = request.app.state.service
    return await signed_upload(
        request,
        service.settings.data_dir / "tmp",
        "file",
        frozenset({"parent", "terms", "method", "ai_enhanced", "parent_community"}),
        lambda upload, signed: _derivative(service, upload, signed),
    )
