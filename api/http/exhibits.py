"""Exhibit builds: ``POST /exhibits/{name}`` (a build from a spec, signed by a keyholder of a
community the spec selects), ``GET /exhibits`` (each build's title, moment and counts: how
many items are shown and how many excluded, never which nor why) and
``GET /exhibits/{name}.zip`` (the built site as a zip).

Builds live in ``<exhibits folder>/<name>/`` (by default ``<data dir>-exhibits``, beside the
data directory: a site is never built inside it), each with its report beside it
(``<name>.report.json``, as ``heritage exhibit build`` writes it)."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

from api.http.auth import Signed, require_keyholder
from api.http.errors import Forbidden, error_responses
from api.http.service import Service
from ledger.errors import NotFound, UsageError

__all__ = ["BuildOut", "ExhibitOut", "exhibits_dir", "router"]

router = APIRouter(tags=["exhibits"])

_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_MAX_REPORT: Final = 64 << 20
_MAX_SPEC: Final = 1 << 20


class ExhibitOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "name": "reef-2026",
                "title": {"en": "Reef treasures"},
                "built_at": "2026-12-01T10:00:00Z",
                "shown": 9,
                "excluded": 3,
            }
        }
    )
    name: str
    title: dict[str, str]
    built_at: str | None
    shown: int
    excluded: int


class ExhibitList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"exhibits": []}})
    exhibits: list[ExhibitOut]


def exhibits_dir(service: Service) -> Path:
    return service.exhibits


def _report(folder: Path) -> dict[str, Any] | None:
    path = folder.with_name(folder.name + ".report.json")
    try:
        if not path.is_file() or path.stat().st_size > _MAX_REPORT:
            return None
        value = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _listing(root: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if not root.is_dir():
        return out
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or _NAME.fullmatch(folder.name) is None:
            continue
        report = _report(folder)
        if report is None:
            continue
        counts = report.get("counts", {})
        title = report.get("title", {})
        out.append(
            {
                "name": folder.name,
                "title": title if isinstance(title, dict) else {},
                "built_at": report.get("built_at"),
                "shown": int(counts.get("shown", 0)),
                "excluded": int(counts.get("excluded", 0)),
            }
        )
    return out


@router.get(
    "/exhibits",
    response_model=ExhibitList,
    summary="The exhibit builds, with their shown and excluded counts",
    responses=error_responses(),
)
async def list_exhibits(request: Request) -> dict[str, Any]:
    service: Service = request.app.state.service
    return {"exhibits": await run_in_threadpool(_listing, exhibits_dir(service))}


class _Sink(io.RawIOBase):
    """A write-only stream that hands its bytes out as they come (ZipFile sees no seek, so
    it writes data descriptors and keeps its own offsets)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.parts.append(chunk)
        self.written += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.written

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def _zip_chunks(folder: Path) -> Iterator[bytes]:
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                archive.write(path, path.relative_to(folder).as_posix())
                yield sink.take()
    yield sink.take()


@router.get(
    "/exhibits/{name}.zip",
    summary="Download a build as a zip",
    responses={
        200: {
            "content": {"application/zip": {"example": "PK…"}},
            "description": "the built site, every file at its path",
        },
        **error_responses(400, 404),
    },
    response_class=StreamingResponse,
)
async def download_exhibit(
    request: Request,
    name: Annotated[str, PathParam(pattern=f"^{_NAME.pattern}$", max_length=100)],
) -> StreamingResponse:
    service: Service = request.app.state.service
    folder = exhibits_dir(service) / name
    if not folder.is_dir() or _report(folder) is None:
        raise NotFound(f"no exhibit build named {name}", hint="list them with GET /exhibits")
    return StreamingResponse(
        _zip_chunks(folder),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}.zip"'},
    )


class BuildOut(BaseModel):
    """A finished build: its counts, and for the keyholder who asked, each excluded item's
    id with the reasons (never its title)."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "name": "reef-2026",
                "shown": 6,
                "excluded": [{"id": "0x" + "ab" * 32, "reasons": ["claim.revoked"]}],
                "built_at": "2026-12-01T10:00:00Z",
            }
        }
    )
    name: str
    shown: int
    excluded: list[dict[str, Any]]
    built_at: str


_SPEC_EXAMPLE = (
    'title = "Voices of the Reef"\nlanguages = ["en"]\n[select]\ncommunities = ["Reef"]\n'
)


def _build(service: Service, name: str, text: bytes, signed: Signed) -> dict[str, Any]:
    from exhibits.build import build_exhibit
    from exhibits.spec import parse_spec

    spec = parse_spec(text, "the exhibit spec")
    with service.registry() as registry:
        selected = {registry.reader.resolve_community(c) for c in spec.selection.communities}
    if signed.community not in selected:
        raise Forbidden(
            "the signer's community is not one the exhibit spec selects",
            hint="a keyholder of a selected community builds its exhibit",
        )
    root = exhibits_dir(service)
    root.mkdir(parents=True, exist_ok=True)
    with service.exclusive():  # the build opens a registry of its own
        result = build_exhibit(spec, root / name, settings=service.settings)
    return {
        "name": name,
        "shown": len(result.choice.shown),
        "excluded": [
            {
                "id": "0x" + e.candidate.key.hex(),
                "reasons": [r.code for r in e.reasons if r.denies],
            }
            for e in result.choice.excluded
        ],
        "built_at": result.built_at.isoformat().replace("+00:00", "Z"),
    }


@router.post(
    "/exhibits/{name}",
    response_model=BuildOut,
    summary="Build an exhibit from a spec (TOML body; signed by a selected community's keyholder)",
    responses=error_responses(400, 401, 403, 404, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/toml": {
                    "schema": {"type": "string", "maxLength": _MAX_SPEC},
                    "example": _SPEC_EXAMPLE,
                }
            },
        }
    },
)
async def build(
    request: Request,
    name: Annotated[str, PathParam(pattern=f"^{_NAME.pattern}$", max_length=100)],
    signed: Annotated[Signed, Depends(require_keyholder)],
) -> dict[str, Any]:
    service: Service = request.app.state.service
    text = await request.body()
    if len(text) > _MAX_SPEC:
        raise UsageError(f"an exhibit spec of {len(text)} bytes is over 1 MiB")
    return await run_in_threadpool(_build, service, name, text, signed)
