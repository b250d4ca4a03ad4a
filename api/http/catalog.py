"""Read endpoints of communities and items: ``/communities``, ``/communities/{ref}``,
``/items``, ``/items/{id}``, ``/items/{id}/terms``, ``/items/{id}/descriptions``, and the
keyholders' own view ``/communities/{ref}/items`` (signed requests only).

Public answers hold only items whose content every claim allows to be shown now
(:func:`ledger.rights.claims.decide_content`): any other item is absent from lists and
answers 404 by id, exactly as an item that does not exist, so no answer tells anything of a
restricted item. A keyholder's signed request sees its own community's items, public or not
(a sealed item still without its metadata: nothing is decrypted here).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict

from api.http.auth import Signed, require_keyholder
from api.http.errors import error_responses
from api.http.schemas import CommunityOut, CommunityPage, ItemOut, ItemPage, TermsOut
from api.http.service import Catalogue, Entry, Service
from ledger import strict_json
from ledger.documents import parse_bytes32
from ledger.errors import HeritageError, NotFound, UsageError

__all__ = ["router"]

router = APIRouter()

Limit = Annotated[int, Query(ge=1, le=500, description="at most this many per page")]
Offset = Annotated[int, Query(ge=0, le=10**9, description="skip this many")]
CommunityRef = Annotated[
    str, PathParam(min_length=1, max_length=200, description="a community's name or 0x id")
]
ItemId = Annotated[
    str, PathParam(pattern="^0[xX][0-9a-fA-F]{64}$", description="an item's 0x id (claim key)")
]


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def item_json(entry: Entry, names: dict[bytes, str | None]) -> dict[str, Any]:
    c = entry.candidate
    sealed = bool(c.sealed)
    return {
        "id": c.item_id,
        "cid": str(c.cid),
        "community": _hex(c.community),
        "community_name": names.get(c.community) or c.community_name,
        "kind": c.kind,
        "title": None if sealed else entry.title,
        "file_name": None if sealed else c.file_name,
        "media_type": None if sealed else c.media_type,
        "size": None if sealed else c.size,
        "terms_cid": None if c.terms_cid is None else str(c.terms_cid),
        "terms_version": c.terms_version,
        "revoked": c.revoked,
        "registered_at": c.registered_at.isoformat().replace("+00:00", "Z"),
        "block": c.block,
        "transaction": c.transaction,
        "public": entry.public,
        "sealed": sealed,
        "reasons": list(entry.reasons),
    }


def _community_json(
    registry: Any, community: bytes, names: dict[bytes, str | None]
) -> dict[str, Any]:
    with registry.reader.event_index(sync=False) as index:
        record = index.community(community)
    return {
        "id": _hex(community),
        "name": names.get(community),
        "keyholders": list(record.keyholders),
        "threshold": record.threshold,
        "rotations": record.rotations,
        "created_block": record.created_block,
        "created_at": record.created_at,
        "items": len(record.items),
    }


def _resolve(registry: Any, ref: str) -> bytes:
    if len(ref) > 200:
        raise UsageError("a community reference is a name or a 0x id, not 200+ characters")
    return bytes(registry.reader.resolve_community(ref))


@router.get(
    "/communities",
    response_model=CommunityPage,
    summary="List the communities",
    responses=error_responses(503),
    tags=["communities"],
)
async def list_communities(
    request: Request, limit: Limit = 100, offset: Offset = 0
) -> dict[str, Any]:
    service = _service(request)

    def work() -> dict[str, Any]:
        catalogue = service.catalogue()
        with service.registry() as registry:
            ids = list(catalogue.communities)[offset : offset + limit]
            page = [_community_json(registry, c, catalogue.communities) for c in ids]
        return {
            "total": len(catalogue.communities),
            "offset": offset,
            "limit": limit,
            "communities": page,
        }

    return await run_in_threadpool(work)


@router.get(
    "/communities/{ref}",
    response_model=CommunityOut,
    summary="One community, by 0x id or by name",
    responses=error_responses(400, 404, 503),
    tags=["communities"],
)
async def get_community(request: Request, ref: CommunityRef) -> dict[str, Any]:
    service = _service(request)

    def work() -> dict[str, Any]:
        catalogue = service.catalogue()
        with service.registry() as registry:
            community = _resolve(registry, ref)
            if community not in catalogue.communities:
                raise NotFound(f"community {ref} is not registered on this chain")
            return _community_json(registry, community, catalogue.communities)

    return await run_in_threadpool(work)


def _filtered(
    catalogue: Catalogue,
    entries: list[Entry],
    community: bytes | None,
    kind: str | None,
    q: str | None,
    label: str | None = None,
    license_id: str | None = None,
) -> list[Entry]:
    out = []
    for entry in entries:
        c = entry.candidate
        if community is not None and c.community != community:
            continue
        if kind is not None and c.kind != kind:
            continue
        if label is not None and (c.terms is None or label not in c.terms.labels):
            continue
        if license_id is not None and (
            c.terms is None or (c.terms.license or "").casefold() != license_id.casefold()
        ):
            continue
        if q and not c.sealed:
            needle = q.casefold()
            if needle not in entry.title.casefold() and needle not in c.file_name.casefold():
                continue
        elif q:
            continue  # a sealed item is never matched by text
        out.append(entry)
    return out


@router.get(
    "/items",
    response_model=ItemPage,
    summary="List the public items",
    description="Items whose content may be shown publicly now (every claim on it allows "
    "it), in chain order; filters: community (name or 0x id), kind, text in the title or "
    "file name, a label and the license of the terms.",
    responses=error_responses(400, 404, 503),
    tags=["items"],
)
async def list_items(
    request: Request,
    limit: Limit = 100,
    offset: Offset = 0,
    community: Annotated[str | None, Query(max_length=200)] = None,
    kind: Annotated[str | None, Query(pattern="^(item|derivative|batch-item)$")] = None,
    q: Annotated[str | None, Query(max_length=200, description="text in the title")] = None,
    label: Annotated[
        str | None, Query(max_length=100, description="a label of the terms, e.g. tk:attribution")
    ] = None,
    license: Annotated[
        str | None, Query(max_length=100, description="the terms' SPDX license, e.g. CC-BY-4.0")
    ] = None,
) -> dict[str, Any]:
    service = _service(request)

    def work() -> dict[str, Any]:
        catalogue = service.catalogue()
        wanted = None
        if community is not None:
            with service.registry() as registry:
                wanted = _resolve(registry, community)
        public = [e for e in catalogue.entries if e.public]
        found = _filtered(catalogue, public, wanted, kind, q, label, license)
        return {
            "total": len(found),
            "offset": offset,
            "limit": limit,
            "items": [item_json(e, catalogue.communities) for e in found[offset : offset + limit]],
        }

    return await run_in_threadpool(work)


def _public_entry(catalogue: Catalogue, item: str) -> Entry:
    key = parse_bytes32(item)
    if key is None:
        raise UsageError(
            f"{item[:80]!r} is not an item id", hint="give the item's 0x id (64 hex digits)"
        )
    for entry in catalogue.entries:
        if entry.candidate.key == key and entry.public:
            return entry
    # The same answer for an item that does not exist and one that is not public.
    raise NotFound(f"no public item {item}", hint="list them with GET /items")


@router.get(
    "/items/{item}",
    response_model=ItemOut,
    summary="One public item",
    responses=error_responses(400, 404, 503),
    tags=["items"],
)
async def get_item(request: Request, item: ItemId) -> dict[str, Any]:
    service = _service(request)

    def work() -> dict[str, Any]:
        catalogue = service.catalogue()
        return item_json(_public_entry(catalogue, item), catalogue.communities)

    return await run_in_threadpool(work)


def _terms_document(service: Service, cid: Any) -> dict[str, Any] | None:
    if cid is None:
        return None
    with service.registry() as registry:
        try:
            document = strict_json.loads(registry.node.block_get(cid))
        except (HeritageError, ValueError):
            return None
    return document if isinstance(document, dict) else None


@router.get(
    "/items/{item}/terms",
    response_model=TermsOut,
    summary="The current terms of a public item",
    responses=error_responses(400, 404, 503),
    tags=["terms"],
)
async def get_terms(request: Request, item: ItemId) -> dict[str, Any]:
    service = _service(request)

    def work() -> dict[str, Any]:
        catalogue = service.catalogue()
        c = _public_entry(catalogue, item).candidate
        return {
            "item": c.item_id,
            "terms_cid": None if c.terms_cid is None else str(c.terms_cid),
            "terms_version": c.terms_version,
            "revoked": c.revoked,
            "document": _terms_document(service, c.terms_cid),
        }

    return await run_in_threadpool(work)


@router.get(
    "/communities/{ref}/items",
    response_model=ItemPage,
    summary="Every item of a community, for its keyholders (signed request)",
    responses=error_responses(400, 401, 403, 404, 503),
    tags=["items"],
)
async def community_items(
    request: Request,
    ref: CommunityRef,
    signed: Annotated[Signed, Depends(require_keyholder)],
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    service = _service(request)

    def work() -> dict[str, Any]:
        catalogue = service.catalogue()
        with service.registry() as registry:
            community = _resolve(registry, ref)
        signed.check_community(community)
        found = [e for e in catalogue.entries if e.candidate.community == community]
        return {
            "total": len(found),
            "offset": offset,
            "limit": limit,
            "items": [item_json(e, catalogue.communities) for e in found[offset : offset + limit]],
        }

    return await run_in_threadpool(work)


class DescriptionsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "item": "0x" + "ab" * 32,
                "versions": [{"version": 1, "title": {"en": "Anchor stone"}}],
            }
        }
    )
    item: str
    versions: list[dict[str, Any]]


@router.get(
    "/items/{item}/descriptions",
    response_model=DescriptionsOut,
    summary="Every version of a public item's description, oldest first",
    responses=error_responses(404, 503),
    tags=["descriptions"],
)
async def get_descriptions(request: Request, item: ItemId) -> dict[str, Any]:
    service = _service(request)

    def work() -> dict[str, Any]:
        from ledger.registry.descriptions import description_history

        catalogue = service.catalogue()
        entry = _public_entry(catalogue, item)
        with service.registry() as registry:
            claim = registry.reader.resolve(entry.candidate.item_id)
            versions = description_history(registry.reader, claim)
        return {"item": entry.candidate.item_id, "versions": [v.to_json() for v in versions]}

    return await run_in_threadpool(work)
