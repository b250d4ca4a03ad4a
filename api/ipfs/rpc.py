"""The RPC half of the node's HTTP face: the subset of Kubo's ``/api/v0`` that the project uses.

``add``, ``cat``, ``get``, ``block/get|put|stat``, ``pin/add|rm|ls``, ``repo/gc``,
``dag/export|import``, ``version`` and ``id``, with Kubo's request shapes (arguments in
``?arg=``, booleans as Go's ``strconv.ParseBool`` reads them, multipart uploads as
ipfshttpclient 0.7.0 sends them) and Kubo's response shapes, so an unmodified
``ipfshttpclient.Client`` (and :class:`ledger.ipfs.backend.KuboNode`) works against it.
Each endpoint parses (:mod:`api.ipfs.params`, :mod:`api.ipfs.multipart`), calls the node or
:mod:`ledger.ipfs`, and formats. Uploads are staged and become visible (and pinned) only
when complete.
"""

from __future__ import annotations

import json
import platform
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from anyio import to_thread
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.requests import Request

from api.errors import BrowserRequestRefused, kubo_error_response
from api.ipfs.multipart import Multipart
from api.ipfs.params import KuboParams
from ledger.errors import HeritageError, LimitExceeded, NotFound, UsageError
from ledger.ipfs.backend import NODE_VERSION, EmbeddedNode, parse_ipfs_path
from ledger.ipfs.car import MAX_SECTION_SIZE
from ledger.ipfs.cid import DAG_CBOR, DAG_PB, RAW, Cid
from ledger.ipfs.dag import block_links
from ledger.ipfs.files import GetBlock, check_file, check_name, check_tree, file_size, iter_tar
from ledger.ipfs.pins import indirect_pins, pin_type
from ledger.ipfs.tree import AddTree
from ledger.ipfs.unixfs import CHUNK_SIZE, BlockSink, ImportedEntry, ImportOptions

__all__ = ["RpcRoutes", "refuse_browsers"]

MAX_BLOCK_SIZE: Final = 1 << 20  # Kubo's `block put` limit without --allow-big-block
MAX_BLOCK_PUT_BYTES: Final = 16 << 20  # all blocks of one `block put`, held until checked
_DIRECTORY_TYPE: Final = b"application/x-directory"
_SYMLINK_TYPE: Final = b"application/symlink"


@dataclass(frozen=True, slots=True)
class _AddRequest:
    options: ImportOptions
    pin: bool
    only_hash: bool
    wrap: bool
    quieter: bool

    @classmethod
    def parse(cls, params: KuboParams) -> _AddRequest:
        for name in ("trickle", "nocopy", "inline", "preserve-mode", "preserve-mtime"):
            if params.flag(name, False):
                raise UsageError(f"`add` does not support {name}=true on this node")
        for name in ("to-files", "mode", "mtime"):
            if params.text(name):
                raise UsageError(f"`add` does not support the option {name!r} on this node")
        hash_name = params.text("hash") or "sha2-256"
        if hash_name != "sha2-256":
            raise UsageError(f"hash function {hash_name!r} is not supported; use sha2-256")
        chunker = params.text("chunker") or "default"
        if chunker == "default":
            chunk_size = CHUNK_SIZE
        elif chunker.startswith("size-") and chunker[5:].isdigit() and len(chunker) < 16:
            chunk_size = int(chunker[5:])
        else:
            raise UsageError(f"chunker {chunker[:40]!r} is not supported", hint="use size-<bytes>")
        cid_version = params.integer("cid-version", 0)
        raw_leaves = params.text("raw-leaves")
        options = ImportOptions(
            cid_version=cid_version or 0,
            raw_leaves=None if raw_leaves is None else params.flag("raw-leaves", False),
            chunk_size=chunk_size,
        )
        return cls(
            options,
            pin=params.flag("pin", True),
            only_hash=params.flag("only-hash", False),
            wrap=params.flag("wrap-with-directory", False),
            quieter=params.flag("quieter", False),
        )


def _gzip(pieces: Iterable[bytes], level: int) -> Iterator[bytes]:
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: gzip framing
    for piece in pieces:
        out = compressor.compress(piece)
        if out:
            yield out
    yield compressor.flush()


def _ndjson(items: Iterable[dict[str, Any]]) -> Response:
    body = "".join(json.dumps(item, separators=(",", ":")) + "\n" for item in items)
    return Response(body, media_type="application/json", headers={"X-Chunked-Output": "1"})


def _gc_failed(code: str) -> dict[str, Any]:
    """The error line that ends a ``repo gc`` answer with errors (Kubo's trailer message)."""
    return {
        "Message": "encountered errors during gc run",
        "Code": 0,
        "Type": "error",
        "ErrorCode": code,
    }


def refuse_browsers(request: Request) -> None:
    """Web pages (including ones served by this very gateway) must not drive the RPC API.

    Browsers send Origin on every POST and Sec-Fetch-Site on every request; programs such as
    ipfshttpclient send neither. (Kubo, too, answers cross-origin RPC calls with 403.)
    """
    site = request.headers.get("sec-fetch-site", "none")
    if "origin" in request.headers or site != "none":
        raise BrowserRequestRefused(
            "RPC calls from web pages are refused",
            hint="call the RPC API from a program; web pages may use the /ipfs/ gateway",
        )


class RpcRoutes:
    """The RPC endpoints over one embedded node; :meth:`rpc_endpoints` lists them."""

    def __init__(self, node: EmbeddedNode) -> None:
        self.node = node

    @property
    def _get(self) -> GetBlock:
        return self.node.store.get_block

    def rpc_endpoints(self) -> list[tuple[str, Callable[..., Any]]]:
        return [
            ("/add", self.add),
            ("/cat", self.cat),
            ("/get", self.get),
            ("/block/get", self.block_get),
            ("/block/put", self.block_put),
            ("/block/stat", self.block_stat),
            ("/pin/add", self.pin_add),
            ("/pin/rm", self.pin_rm),
            ("/pin/ls", self.pin_ls),
            ("/repo/gc", self.repo_gc),
            ("/dag/export", self.dag_export),
            ("/dag/import", self.dag_import),
            ("/version", self.version),
            ("/id", self.identity),
        ]

    # ---- add ----------------------------------------------------------------------------
    async def add(self, request: Request) -> Response:
        wanted = _AddRequest.parse(KuboParams(request))
        body = Multipart.of(request)
        entries = await to_thread.run_sync(self._add, wanted, body)
        if wanted.quieter:
            entries = entries[-1:]
        return _ndjson({"Name": e.path, "Hash": str(e.cid), "Size": str(e.tsize)} for e in entries)

    def _add(self, wanted: _AddRequest, body: Multipart) -> list[ImportedEntry]:
        store = self.node.store
        if wanted.only_hash:
            entries, _ = self._import_parts(wanted, body, None)
            return entries
        with store.gc_guard():
            with store.staged() as staged:
                entries, roots = self._import_parts(wanted, body, staged)
            if wanted.pin:
                for root in roots:
                    store.pin(root.cid, check=False)  # just written, whole
        return entries

    def _import_parts(
        self, wanted: _AddRequest, body: Multipart, sink: BlockSink | None
    ) -> tuple[list[ImportedEntry], list[ImportedEntry]]:
        tree = AddTree(wanted.options, sink)
        for part in body.parts():
            if part.content_type == _DIRECTORY_TYPE:
                tree.add_directory(part.filename)
            elif part.content_type == _SYMLINK_TYPE:
                raise UsageError(f"symlinks cannot be added here ({part.filename[:80]!r})")
            else:
                tree.add_file(part.filename, part.stream)
        if tree.empty:
            raise UsageError("no file was sent", hint="send at least one multipart file part")
        return tree.finish(wanted.wrap)

    # ---- reading ------------------------------------------------------------------------
    def cat(self, request: Request) -> Response:
        params = KuboParams(request)
        path = params.one_arg("ipfs-path")
        offset = params.integer("offset", 0) or 0
        length = params.integer("length", None)
        cid = self.node.resolve(path)
        size = file_size(self._get, cid)
        start = min(offset, size)
        count = size - start if length is None else min(length, size - start)
        # What the stream would meet (too deep a DAG, a missing node), answered before it;
        # the check and the read take the same arguments (to the end: None), so they agree.
        until = None if count == size - start else count
        check_file(self._get, cid, start, until, probe=self.node.store)
        # Chunked like Kubo's (X-Content-Length, no Content-Length): clients that read a
        # response with a Content-Length as one piece (urllib3) stream chunked ones.
        return StreamingResponse(
            self.node.cat(str(cid), start, until),
            media_type="application/octet-stream",
            headers={"X-Content-Length": str(count)},
        )

    def get(self, request: Request) -> Response:
        params = KuboParams(request)
        path = params.one_arg("ipfs-path")
        _, rest = parse_ipfs_path(path)
        cid = self.node.resolve(path)
        given_root = path.strip().removeprefix("/ipfs/").split("/", 1)[0]
        name = check_name(rest.rsplit("/", 1)[-1] if rest else given_root)
        # A missing block, an unsafe name or too deep a DAG answers an error before the stream.
        check_tree(self._get, cid, name, probe=self.node.store)
        level = params.integer("compression-level", -1, minimum=-1)
        if level is not None and level > 9:
            raise UsageError(f"compression-level must be -1 to 9, not {level}")
        body: Iterator[bytes] = iter_tar(self._get, cid, name)
        if params.flag("compress", False):
            return StreamingResponse(
                _gzip(body, -1 if level is None else level), media_type="application/gzip"
            )
        return StreamingResponse(body, media_type="application/x-tar")

    # ---- blocks -------------------------------------------------------------------------
    def block_get(self, request: Request) -> Response:
        cid = self.node.resolve(KuboParams(request).one_arg("cid"))
        return Response(self.node.block_get(cid), media_type="application/octet-stream")

    def block_stat(self, request: Request) -> Response:
        cid = self.node.resolve(KuboParams(request).one_arg("cid"))
        return JSONResponse({"Key": str(cid), "Size": len(self.node.block_get(cid))})

    async def block_put(self, request: Request) -> Response:
        params = KuboParams(request)
        codec, version = self._block_codec(params)
        mhtype = params.text("mhtype") or "sha2-256"
        if mhtype != "sha2-256" or params.integer("mhlen", -1, minimum=-1) not in (-1, 32):
            raise UsageError(f"hash {mhtype!r} is not supported; use sha2-256 (32 bytes)")
        pin = params.flag("pin", False)
        limit = MAX_SECTION_SIZE if params.flag("allow-big-block", False) else MAX_BLOCK_SIZE
        body = Multipart.of(request)
        stored = await to_thread.run_sync(self._block_put, body, codec, version, pin, limit)
        return _ndjson({"Key": str(cid), "Size": size} for cid, size in stored)

    @staticmethod
    def _block_codec(params: KuboParams) -> tuple[int, int]:
        """(codec, CID version) from ``cid-codec`` or Kubo's older ``format``."""
        codecs = {"raw": RAW, "dag-pb": DAG_PB, "dag-cbor": DAG_CBOR}
        formats = {
            "v0": (DAG_PB, 0),
            "protobuf": (DAG_PB, 0),
            "raw": (RAW, 1),
            "dag-pb": (DAG_PB, 1),
            "cbor": (DAG_CBOR, 1),
            "dag-cbor": (DAG_CBOR, 1),
        }
        codec_name = params.text("cid-codec")
        format_name = params.text("format")
        if codec_name and format_name:
            raise UsageError("pass either cid-codec or format, not both")
        if format_name:
            if format_name not in formats:
                raise UsageError(
                    f"block format {format_name[:40]!r} is not supported",
                    hint="use one of: " + ", ".join(formats),
                )
            return formats[format_name]
        name = codec_name or "raw"
        if name not in codecs:
            raise UsageError(
                f"codec {name[:40]!r} is not supported", hint="use raw, dag-pb or dag-cbor"
            )
        return codecs[name], 1

    def _block_put(
        self, body: Multipart, codec: int, version: int, pin: bool, limit: int
    ) -> list[tuple[Cid, int]]:
        # All blocks are read and checked before any is stored: a bad body stores nothing.
        blocks: list[bytes] = []
        total = 0
        for part in body.parts():
            data = part.read(limit + 1)
            total += len(data)
            if len(data) > limit or total > MAX_BLOCK_PUT_BYTES:
                raise LimitExceeded(
                    f"a block may be at most {limit} bytes, and one request at most "
                    f"{MAX_BLOCK_PUT_BYTES}",
                    hint="add large content with `add`, which splits it into blocks",
                )
            block_links(Cid.for_block(data, codec), data)  # is it the codec it claims?
            blocks.append(data)
        if not blocks:
            raise UsageError("no block was sent", hint="send the block as a multipart file part")
        stored: list[tuple[Cid, int]] = []
        with self.node.store.gc_guard():
            for data in blocks:
                cid = self.node.block_put(data, codec)
                if version == 0:
                    cid = Cid(0, DAG_PB, cid.multihash)
                if pin:
                    self.node.pin_add(cid)
                stored.append((cid, len(data)))
        return stored

    # ---- pins ---------------------------------------------------------------------------
    def pin_add(self, request: Request) -> Response:
        params = KuboParams(request)
        recursive = params.flag("recursive", True)
        cids = [self.node.resolve(arg) for arg in params.some_args("ipfs-path")]
        for cid in cids:
            self.node.pin_add(cid, recursive=recursive)
        return JSONResponse({"Pins": [str(cid) for cid in cids]})

    def pin_rm(self, request: Request) -> Response:
        params = KuboParams(request)
        recursive = params.flag("recursive", True)
        args = params.some_args("ipfs-path")
        cids = [self.node.resolve(arg) for arg in args]
        pins = self.node.pin_ls()
        for arg, cid in zip(args, cids, strict=True):  # check all before removing any
            kind = pins.get(cid)
            if kind is None:
                raise NotFound(f"{arg} is not pinned or pinned indirectly")
            if kind == "recursive" and not recursive:
                raise UsageError(f"{arg} is pinned recursively", hint="pass recursive=true")
        for cid in cids:
            self.node.pin_rm(cid, recursive=recursive)
        return JSONResponse({"Pins": [str(cid) for cid in cids]})

    def pin_ls(self, request: Request) -> Response:
        params = KuboParams(request)
        kind = params.text("type") or "all"
        if kind not in ("all", "recursive", "direct", "indirect"):
            raise UsageError(
                f"pin type {kind[:40]!r} is not known",
                hint="use all, recursive, direct or indirect",
            )
        pins = self.node.pin_ls()
        keys: dict[str, str] = {}
        args = params.args()
        if args:
            for arg in args:
                cid = self.node.resolve(arg)
                found = pin_type(cid, pins, kind, self._get)
                if found is None:
                    raise NotFound(f"path '{arg}' is not pinned")
                keys[str(cid)] = found
        else:
            for cid, pin_kind in pins.items():
                if kind in ("all", pin_kind):
                    keys[str(cid)] = pin_kind
            if kind in ("all", "indirect"):
                for cid in indirect_pins(pins, self._get):
                    keys.setdefault(str(cid), "indirect")
        if params.flag("stream", False):
            return _ndjson({"Cid": c, "Type": t, "Name": ""} for c, t in keys.items())
        return JSONResponse({"Keys": {c: {"Type": t, "Name": ""} for c, t in keys.items()}})

    # ---- garbage collection -------------------------------------------------------------
    async def repo_gc(self, request: Request) -> Response:
        """Kubo's ``repo gc``: one ``{"Key": {"/": cid}}`` line per removed block. With
        ``stream-errors``, a block that could not be removed is a ``{"Key": null, "Error":
        message}`` line and the answer ends with an error line (Kubo sends that verdict as an
        HTTP trailer, which no Python client reads); without it, any error fails the call.
        ``silent`` leaves out the Key lines (not with stream-errors, as in Kubo); ``quiet``
        shapes only Kubo's text output, so JSON answers ignore it."""
        params = KuboParams(request)
        if params.args():
            raise UsageError("`repo gc` takes no arguments")
        stream_errors = params.flag("stream-errors", False)
        silent = params.flag("silent", False) and not stream_errors
        params.flag("quiet", False)  # checked for Go's boolean syntax, like every flag
        try:
            report = await to_thread.run_sync(self.node.collect)
        except HeritageError as exc:  # nothing was removed: a pinned DAG cannot be walked
            if not stream_errors:
                return kubo_error_response(500, exc.message, exc.code, hint=exc.hint)
            return _ndjson([{"Key": None, "Error": exc.message}, _gc_failed(exc.code)])
        lines: list[dict[str, Any]] = []
        if not silent:
            lines += [{"Key": {"/": str(cid)}} for cid in report.removed]
        if report.failed:
            errors = [f"could not remove {cid}: {why}" for cid, why in report.failed]
            if not stream_errors:
                return kubo_error_response(500, "; ".join(errors)[:2000], "gc_incomplete")
            lines += [{"Key": None, "Error": error} for error in errors]
            lines.append(_gc_failed("gc_incomplete"))
        return _ndjson(lines)

    # ---- CAR ----------------------------------------------------------------------------
    def dag_export(self, request: Request) -> Response:
        cid = self.node.resolve(KuboParams(request).one_arg("root"))
        self.node.block_get(cid)  # a missing root answers 404 before the stream starts
        return StreamingResponse(self.node.dag_export(cid), media_type="application/vnd.ipld.car")

    async def dag_import(self, request: Request) -> Response:
        params = KuboParams(request)
        pin_roots = params.flag("pin-roots", True)
        stats = params.flag("stats", False)
        body = Multipart.of(request)
        lines = await to_thread.run_sync(self._dag_import, body, pin_roots, stats)
        return _ndjson(lines)

    def _dag_import(self, body: Multipart, pin_roots: bool, stats: bool) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        roots: dict[Cid, None] = {}
        blocks = 0
        with self.node.store.gc_guard():  # nothing imported may be collected before its pin
            for part in body.parts():
                result = self.node.dag_import(part.stream, pin_roots=False)
                roots.update(dict.fromkeys(result.roots))
                blocks += result.block_count
            if not roots:
                raise UsageError("no CAR file was sent", hint="send it as a multipart file part")
            if pin_roots:
                failed = 0
                for root in roots:
                    message = ""
                    try:
                        self.node.pin_add(root)
                    except HeritageError as exc:
                        message = exc.message
                        failed += 1
                    lines.append({"Root": {"Cid": {"/": str(root)}, "PinErrorMsg": message}})
                if failed:
                    lines.append(
                        {
                            "Message": f"unable to pin all roots: {failed} out of "
                            f"{len(roots)} failed",
                            "Code": 0,
                            "Type": "error",
                            "ErrorCode": "pin_failed",
                        }
                    )
        if stats:
            lines.append({"Stats": {"BlockCount": blocks}})
        return lines

    # ---- about the node -----------------------------------------------------------------
    def version(self) -> Response:
        # "Version" is the Kubo RPC level whose request and response shapes this node
        # follows (ledger.ipfs.backend.NODE_VERSION), not a Kubo build.
        return JSONResponse(
            {
                "Version": NODE_VERSION,
                "Commit": "",
                "Repo": "",
                "System": f"{platform.machine().lower()}/{platform.system().lower()}",
                "Golang": "",
            }
        )

    def identity(self, request: Request) -> Response:
        if KuboParams(request).args():
            raise UsageError("this node does not join the IPFS network and knows no peers")
        # No libp2p identity: the embedded node serves its store over HTTP only.
        return JSONResponse(
            {
                "ID": "",
                "PublicKey": "",
                "Addresses": [],
                "AgentVersion": f"heritage-ledger/kubo-rpc-{NODE_VERSION}",
                "ProtocolVersion": "",
                "Protocols": [],
            }
        )
