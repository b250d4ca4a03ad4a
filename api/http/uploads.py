"""Signed multipart uploads: the body streamed to a private scratch folder as it arrives,
hashed on the way, and the request's signature checked once the body is all read, before
any of it reaches the IPFS node.

A signed request's signature covers the SHA-256 of its body (docs/api.md), so an upload cannot
be checked before it has arrived; it is never held whole in memory either: each part is
written to ``<data dir>/tmp/upload-*/`` (mode 0700) chunk by chunk while the body's hash is
computed, small JSON parts (terms, description, method) capped at one document block. The
headers are checked first (401 without reading the body); the folder is removed whatever
happens, so a refused, cut or oversized upload leaves nothing behind; one left by a server
that stopped mid-upload is removed by the next upload, a day later (:func:`sweep_stale`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from fastapi import Request

from api.http.auth import Signed, check_signed, read_signed_headers
from api.ipfs.multipart import BodyPull, Multipart
from ledger.documents import MAX_DOCUMENT_BYTES
from ledger.errors import HeritageError, LimitExceeded, UsageError

__all__ = ["STALE_SECONDS", "Upload", "multipart_body", "signed_upload", "sweep_stale"]

_CHUNK: Final = 1 << 20
#: An upload folder this old is a leftover of a server that stopped mid-upload.
STALE_SECONDS: Final = 24 * 3600
#: A file name kept for the metadata document: its last component, no control characters.
_UNSAFE: Final = re.compile(r"[\x00-\x1f\x7f/\\]")


@dataclass(frozen=True, slots=True)
class Upload:
    """One multipart upload, spooled: ``file`` (the one file part, under its own name in the
    scratch folder), the other parts' bytes by name, and the body's SHA-256."""

    file: Path | None
    fields: Mapping[str, bytes]
    body_sha256: bytes
    folder: Path

    def text(self, name: str) -> str | None:
        """A field part as text (UTF-8), or None when it was not sent."""
        value = self.fields.get(name)
        if value is None:
            return None
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"the part {name!r} is not UTF-8 text") from None

    def document(self, name: str) -> Path | None:
        """A JSON part written to a file of its own (the workflows read documents from files,
        with their checks and limits), or None when it was not sent."""
        value = self.fields.get(name)
        if value is None:
            return None
        path = self.folder / f"{name}.json"
        path.write_bytes(value)
        return path


def _file_name(sent: str) -> str:
    name = _UNSAFE.sub("_", sent.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    if name in ("", ".", "..") or len(name.encode()) > 255:
        return "upload"
    return name


def _spool(
    content_type: str,
    pull: Callable[[], bytes | None],
    folder: Path,
    file_field: str,
    fields: frozenset[str],
) -> Upload:
    """Read every part of the body into ``folder`` (run in a worker thread)."""
    digest = hashlib.sha256()

    def hashed() -> bytes | None:
        chunk = pull()
        if chunk is not None:
            digest.update(chunk)
        return chunk

    parser = Multipart(content_type, hashed)
    file: Path | None = None
    values: dict[str, bytes] = {}
    for part in parser.parts():
        if part.name == file_field and file is None:
            file = folder / "file" / _file_name(part.filename or "upload")
            file.parent.mkdir(mode=0o700)
            with file.open("wb") as out:
                while chunk := part.read(_CHUNK):
                    out.write(chunk)
        elif part.name in fields and part.name not in values:
            value = bytearray()
            while chunk := part.read(_CHUNK):
                value += chunk
                if len(value) > MAX_DOCUMENT_BYTES:
                    raise LimitExceeded(
                        f"the part {part.name!r} is over {MAX_DOCUMENT_BYTES} bytes",
                        hint="a document fits in one 1 MiB block",
                    )
            values[part.name] = bytes(value)
        else:
            wanted = ", ".join(sorted({file_field, *fields}))
            raise UsageError(
                f"unexpected or repeated part {part.name[:40]!r} in the upload",
                hint=f"send each of the parts {wanted} at most once",
            )
    return Upload(file, values, digest.digest(), folder)


def sweep_stale(scratch: Path, now: float, older_than: float = STALE_SECONDS) -> list[Path]:
    """Remove the upload folders of ``scratch`` last changed before ``now - older_than`` (a
    server stopped mid-upload leaves its folder; a live upload's is younger): those removed."""
    removed: list[Path] = []
    for folder in sorted(scratch.glob("upload-*")):
        try:
            if folder.is_dir() and folder.stat().st_mtime < now - older_than:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        except FileNotFoundError:  # removed meanwhile by its own request
            continue
    return removed


@contextmanager
def multipart_body(
    request: Request, scratch: Path
) -> Iterator[Callable[[str, frozenset[str]], Upload]]:
    """A function that spools the request's multipart body into a folder of ``scratch``
    (call it in a worker thread); the folder is removed when the block ends."""
    scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
    sweep_stale(scratch, time.time())
    folder = Path(tempfile.mkdtemp(prefix="upload-", dir=scratch))
    try:
        content_type = request.headers.get("content-type", "")
        pull = BodyPull(request)
        yield lambda file_field, fields: _spool(content_type, pull, folder, file_field, fields)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def signed_upload(
    request: Request,
    scratch: Path,
    file_field: str,
    fields: frozenset[str],
    work: Callable[[Upload, Signed], Any],
) -> Any:
    """Check the signature's headers (401 before the body is read), spool the upload, check
    the signature over it, then run ``work(upload, signed)`` in a worker thread; the scratch
    folder is gone when this returns."""
    from fastapi.concurrency import run_in_threadpool

    headers = read_signed_headers(request)
    with multipart_body(request, scratch) as spool:
        upload = await run_in_threadpool(spool, file_field, fields)
        signed = await check_signed(request, headers, upload.body_sha256)
        if upload.file is None:
            raise UsageError(
                f"the upload has no {file_field!r} part",
                hint=f"send the file as the multipart part {file_field!r}",
            )
        try:
            return await run_in_threadpool(work, upload, signed)
        except HeritageError as exc:
            # The scratch folder is the server's business: errors name the parts sent.
            for field in ("message", "hint"):
                text = getattr(exc, field)
                if text:
                    setattr(exc, field, text.replace(f"{upload.folder}{os.sep}", "the upload's "))
            raise
