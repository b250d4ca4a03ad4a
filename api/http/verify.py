"""Verification over HTTP: ``GET /verify/{cid}`` and ``POST /verify`` (a file, uploaded as
multipart ``file``), each answering the verification report
(ledger/schemas/verify-report.schema.json, as ``heritage verify --json`` prints it).

A report is an answer, whatever its verdict: 200 with ``status`` and ``exit_code`` as the CLI
gives them. An uploaded file is spooled to the data directory's private scratch folder, hashed,
and deleted; nothing of it is kept.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool

from api.http.errors import error_responses
from api.http.schemas import VerifyOut
from api.http.service import Service
from ledger.errors import UsageError

__all__ = ["router"]

router = APIRouter(tags=["verification"])

_CHUNK = 1 << 20


def _verify(service: Service, target: str) -> dict[str, Any]:
    from ledger.verify import verify_online

    with service.registry() as registry:
        report = verify_online(registry.reader, target)
    result: dict[str, Any] = report.to_json()
    return result


@router.get(
    "/verify/{cid}",
    response_model=VerifyOut,
    summary="Verify a CID (or a 0x item key) against the registry",
    responses=error_responses(400, 404, 503),
)
async def verify_cid(
    request: Request,
    cid: Annotated[
        str, PathParam(min_length=1, max_length=200, description="a CID or 0x item key")
    ],
) -> dict[str, Any]:
    service: Service = request.app.state.service
    from ledger.verify.report import names_an_item

    if len(cid) > 200 or not names_an_item(cid):
        raise UsageError(
            f"{cid[:80]!r} is not a CID or a 0x item key",
            hint="give the CID to verify, or upload the file with POST /verify",
        )
    return await run_in_threadpool(_verify, service, cid)


@router.post(
    "/verify",
    response_model=VerifyOut,
    summary="Verify an uploaded file against the registry",
    responses=error_responses(400, 404, 503),
)
async def verify_file(request: Request, file: UploadFile) -> dict[str, Any]:
    service: Service = request.app.state.service
    scratch = service.settings.data_dir / "tmp"
    scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="verify-", dir=scratch)
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            while chunk := await file.read(_CHUNK):
                out.write(chunk)
        return await run_in_threadpool(_verify, service, str(path))
    finally:
        path.unlink(missing_ok=True)
