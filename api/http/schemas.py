"""The shapes of the API's answers (pydantic models: the OpenAPI document's schemas), with
the examples the document shows for each operation."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CommunityOut",
    "CommunityPage",
    "EventOut",
    "EventPage",
    "Health",
    "ItemOut",
    "ItemPage",
    "TermsOut",
    "VerifyOut",
]

_ID = "0x8f4b2c1e0a9d7f6e5c4b3a29181706f5e4d3c2b1a0998877665544332211aa00"
_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


class Health(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"status": "ok", "chain": "up", "block": 42}}
    )
    status: str = Field(description="ok: the API answers")
    chain: str = Field(description="up, or down (operations that need it answer 503)")
    block: int | None = Field(description="the chain's latest block, when it is up")


class CommunityOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": _ID,
                "name": "Reef",
                "keyholders": ["0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"],
                "threshold": 1,
                "rotations": 0,
                "created_block": 12,
                "created_at": 1764000000,
                "items": 3,
            }
        }
    )
    id: str
    name: str | None
    keyholders: list[str]
    threshold: int
    rotations: int
    created_block: int
    created_at: int
    items: int = Field(description="items and derivatives it registered")


class CommunityPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"total": 1, "offset": 0, "limit": 100, "communities": []}
        }
    )
    total: int
    offset: int
    limit: int
    communities: list[CommunityOut]


class ItemOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": _ID,
                "cid": _CID,
                "community": _ID,
                "community_name": "Reef",
                "kind": "item",
                "title": "Anchor stone",
                "file_name": "anchor.png",
                "media_type": "image/png",
                "size": 20480,
                "terms_cid": _CID,
                "terms_version": 1,
                "revoked": False,
                "registered_at": "2026-12-01T10:00:00Z",
                "block": 14,
                "transaction": "0x" + "ab" * 32,
                "public": True,
                "sealed": False,
                "reasons": [],
            }
        }
    )
    id: str
    cid: str
    community: str
    community_name: str | None
    kind: str
    title: str | None = Field(description="None for a sealed item: its metadata is encrypted")
    file_name: str | None
    media_type: str | None
    size: int | None
    terms_cid: str | None
    terms_version: int
    revoked: bool
    registered_at: str
    block: int
    transaction: str | None
    public: bool = Field(description="content public: every claim on it allows it now")
    sealed: bool
    reasons: list[dict[str, Any]] = Field(description="the display decision's reasons")


class ItemPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"total": 0, "offset": 0, "limit": 100, "items": []}}
    )
    total: int
    offset: int
    limit: int
    items: list[ItemOut]


class TermsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "item": _ID,
                "terms_cid": _CID,
                "terms_version": 1,
                "revoked": False,
                "document": {"type": "heritage-terms", "version": 1},
            }
        }
    )
    item: str
    terms_cid: str | None
    terms_version: int
    revoked: bool
    document: dict[str, Any] | None


class VerifyOut(BaseModel):
    """The verification report (ledger/schemas/verify-report.schema.json)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {"status": "verified", "exit_code": 0, "target": _CID, "claims": []}
        },
    )


class EventOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "event": "ItemRegistered",
                "block_number": 14,
                "log_index": 0,
                "tx_hash": "0x" + "ab" * 32,
                "timestamp": 1764000000,
                "fields": {"item": _ID},
            }
        }
    )
    event: str
    block_number: int
    log_index: int
    tx_hash: str
    timestamp: int
    fields: dict[str, Any]


class EventPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"events": [], "next": "14.1", "head": 20}}
    )
    events: list[EventOut]
    next: str | None = Field(description="the cursor of the next page (after=); None: the end")
    head: int | None = Field(description="the last block the index has read")
