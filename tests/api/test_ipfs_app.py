"""The IPFS app over real HTTP (uvicorn + httpx): RPC shapes, error bodies, the gateway.

Expected CIDs come from outside this project: Kubo's published CIDs for ``hello world\\n``,
the empty file and the empty directory, the `multiformats` package for raw blocks, and the
JS UnixFS importer run with Kubo's settings (tests/js/kubo_reference.mjs) for directories.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from multiformats import CID, multihash
from starlette.types import ASGIApp

from api.ipfs import create_ipfs_app
from ledger.ipfs.backend import EmbeddedNode
from ledger.ipfs.car import CarReader, write_car
from ledger.ipfs.cid import DAG_PB, RAW, Cid
from ledger.ipfs.dag import walk_dag
from ledger.ipfs.dagpb import PBLink, PBNode, UnixFSData, UnixFSType, encode_node, encode_unixfs
from ledger.ipfs.files import MAX_FILE_DEPTH
from ledger.settings import Settings, load_settings
from tests.kubo_reference import run_kubo_reference
from tests.ledger.ipfs.test_nodecache import CountingBlockstore

HELLO = b"hello world\n"
HELLO_CID = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"  # Kubo docs
EMPTY_FILE_CID = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"  # Kubo: `ipfs add` of ""
EMPTY_DIR_CID = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"  # Kubo: unixfs empty dir
ROOT = Path(__file__).resolve().parents[2]
HOSTILE = "<img src=x onerror=alert(1)>&\"'.txt"

Part = tuple[str, str, bytes]  # (file name, content type, body)


# ---- helpers -------------------------------------------------------------------------------


def multipart(parts: list[Part]) -> tuple[bytes, str]:
    """A multipart/form-data body as ipfshttpclient writes it (names percent-encoded)."""
    boundary = uuid.uuid4().hex
    out = bytearray()
    for name, ctype, data in parts:
        out += f"--{boundary}\r\n".encode()
        shown = quote(name, safe="")
        out += f'Content-Disposition: form-data; name="file"; filename="{shown}"\r\n'.encode()
        out += f"Content-Type: {ctype}\r\n\r\n".encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def raw_cid(data: bytes) -> str:
    return str(CID("base32", 1, "raw", multihash.digest(data, "sha2-256")))


def reference_cid(path: Path, *flags: str) -> str:
    """The CID Kubo's `ipfs add -r` gives ``path``, from the JS UnixFS importer."""
    return run_kubo_reference(flags, [path])[0]


def assert_kubo_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["Type"] == "error"
    assert body["Code"] == 0
    assert isinstance(body["Message"], str) and body["Message"]
    assert body["ErrorCode"] == code
    assert "Traceback" not in response.text
    return body


def state(node: EmbeddedNode) -> tuple[dict[str, str], set[bytes]]:
    """Everything an error must leave alone: the pins and the stored blocks."""
    pins: dict[str, str] = {str(cid): kind for cid, kind in node.pin_ls().items()}
    return pins, set(node.store.iter_multihashes())


@pytest.fixture
def client(served_node: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served_node, timeout=60) as c:
        yield c


def add(client: httpx.Client, parts: list[Part], **params: str) -> list[dict[str, str]]:
    body, ctype = multipart(parts)
    response = client.post(
        "/api/v0/add", params=params, content=body, headers={"Content-Type": ctype}
    )
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def tree(tmp_path: Path) -> Path:
    """A small directory tree with a multi-block file, an empty folder and a hostile name."""
    root = tmp_path / "site"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "a.txt").write_bytes(HELLO)
    (root / "model.glb").write_bytes(b"glTF" + bytes(range(256)) * 40)
    (root / "big.bin").write_bytes(os.urandom(600_000))
    (root / "sub" / "b.txt").write_bytes(b"b" * 1000)
    (root / "sub" / "deeper" / "c").write_bytes(b"")
    (root / HOSTILE).write_bytes(b"hostile")
    return root


def parts_of(root: Path) -> list[Part]:
    """``root`` as ipfshttpclient's recursive add sends it: each directory before its contents."""
    parts: list[Part] = [(root.name, "application/x-directory", b"")]
    for path in sorted(root.rglob("*")):
        name = root.name + "/" + path.relative_to(root).as_posix()
        if path.is_dir():
            parts.append((name, "application/x-directory", b""))
        else:
            parts.append((name, "application/octet-stream", path.read_bytes()))
    return parts


# ---- add -----------------------------------------------------------------------------------


def test_add_single_files_match_kubo(client: httpx.Client, embedded_node: EmbeddedNode) -> None:
    lines = add(client, [("hello.txt", "text/plain", HELLO)])
    assert lines == [{"Name": "hello.txt", "Hash": HELLO_CID, "Size": "20"}]
    lines = add(client, [("empty", "application/octet-stream", b"")])
    assert lines[0]["Hash"] == EMPTY_FILE_CID
    assert {str(c) for c in embedded_node.pin_ls()} == {HELLO_CID, EMPTY_FILE_CID}


def test_add_cid_v1_defaults_to_raw_leaves(client: httpx.Client) -> None:
    [line] = add(client, [("hello.txt", "text/plain", HELLO)], **{"cid-version": "1"})
    assert line["Hash"] == raw_cid(HELLO)
    assert line["Size"] == str(len(HELLO))


def test_add_directory_matches_kubo(
    client: httpx.Client, embedded_node: EmbeddedNode, tmp_path: Path
) -> None:
    root = tree(tmp_path)
    lines = add(client, parts_of(root))
    assert lines[-1]["Name"] == "site"
    assert lines[-1]["Hash"] == reference_cid(root)
    names = [line["Name"] for line in lines]
    assert "site/sub/deeper/c" in names and "site/sub/deeper" in names and "site/empty" in names
    assert names.index("site/sub/deeper") < names.index("site/sub") < names.index("site")
    assert all(isinstance(line["Size"], str) and line["Size"].isdigit() for line in lines)
    empty = next(line for line in lines if line["Name"] == "site/empty")
    assert empty["Hash"] == EMPTY_DIR_CID
    assert [str(c) for c in embedded_node.pin_ls()] == [reference_cid(root)]


def test_add_cid_v1_directory_matches_kubo(client: httpx.Client, tmp_path: Path) -> None:
    root = tree(tmp_path)
    lines = add(client, parts_of(root), **{"cid-version": "1"})
    assert lines[-1]["Hash"] == reference_cid(root, "--cid-version", "1")


def test_add_wrap_with_directory(client: httpx.Client, tmp_path: Path) -> None:
    lines = add(
        client,
        [("hello.txt", "text/plain", HELLO), ("other.txt", "text/plain", b"other\n")],
        **{"wrap-with-directory": "true"},
    )
    wrapper = tmp_path / "wrapper"
    wrapper.mkdir()
    (wrapper / "hello.txt").write_bytes(HELLO)
    (wrapper / "other.txt").write_bytes(b"other\n")
    assert lines[0]["Hash"] == HELLO_CID
    assert lines[-1] == {"Name": "", "Hash": reference_cid(wrapper), "Size": lines[-1]["Size"]}
    quiet = add(
        client,
        [("hello.txt", "text/plain", HELLO), ("other.txt", "text/plain", b"other\n")],
        **{"wrap-with-directory": "true", "quieter": "true"},
    )
    assert quiet == lines[-1:]


def test_add_only_hash_and_no_pin_store_nothing_or_pin_nothing(
    client: httpx.Client, embedded_node: EmbeddedNode
) -> None:
    [line] = add(client, [("hello.txt", "text/plain", HELLO)], **{"only-hash": "true"})
    assert line["Hash"] == HELLO_CID
    assert state(embedded_node) == ({}, set())
    [line] = add(client, [("hello.txt", "text/plain", HELLO)], pin="false")
    assert line["Hash"] == HELLO_CID
    pins, blocks = state(embedded_node)
    assert pins == {} and len(blocks) == 1


def test_add_streams_a_large_chunked_upload(
    client: httpx.Client, embedded_node: EmbeddedNode, tmp_path: Path
) -> None:
    data = os.urandom(5_000_000)
    body, ctype = multipart([("big.bin", "application/octet-stream", data)])

    def pieces() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        for i in range(0, len(body), 65_536):
            yield body[i : i + 65_536]

    response = client.post("/api/v0/add", content=pieces(), headers={"Content-Type": ctype})
    assert response.status_code == 200, response.text
    (tmp_path / "big.bin").write_bytes(data)
    assert response.json()["Hash"] == reference_cid(tmp_path / "big.bin")
    assert b"".join(embedded_node.cat(response.json()["Hash"])) == data


def test_add_a_file_of_repeated_chunks(
    client: httpx.Client, embedded_node: EmbeddedNode, tmp_path: Path
) -> None:
    # Many leaves, one block: identical chunks may be hashed (and staged) by several
    # threads at once.
    zeros = b"\0" * (12 << 20)
    [line] = add(client, [("zeros.bin", "application/octet-stream", zeros)])
    (tmp_path / "zeros.bin").write_bytes(zeros)
    assert line["Hash"] == reference_cid(tmp_path / "zeros.bin")
    assert b"".join(embedded_node.cat(line["Hash"])) == zeros


# ---- errors: every bad input is a 4xx with Kubo's body, and changes nothing ----------------


@pytest.fixture
def stocked(client: httpx.Client, embedded_node: EmbeddedNode, tmp_path: Path) -> str:
    """The served node after adding a tree; returns the tree's root CID."""
    return add(client, parts_of(tree(tmp_path)))[-1]["Hash"]


def test_gateway_serves_3d_masters_with_their_model_types(
    client: httpx.Client, tmp_path: Path
) -> None:
    """OBJ and STL as IANA registers them (model/obj, model/stl); PLY, which IANA does not
    register, in the same tree as `model/x-ply` (ledger.documents.EXTRA_MEDIA_TYPES)."""
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "bowl.ply").write_bytes(b"ply\nformat ascii 1.0\nelement vertex 0\nend_header\n")
    (folder / "bowl.obj").write_bytes(b"v 0 0 0\n")
    (folder / "bowl.stl").write_bytes(b"solid bowl\nendsolid bowl\n")
    (folder / "bowl.mtl").write_bytes(b"newmtl clay\n")
    root = add(client, parts_of(folder))[-1]["Hash"]
    expected = {"ply": "model/x-ply", "obj": "model/obj", "stl": "model/stl", "mtl": "model/mtl"}
    for extension, media_type in expected.items():
        response = client.get(f"/ipfs/{root}/bowl.{extension}")
        assert response.status_code == 200
        assert response.headers["content-type"] == media_type


def test_invalid_cid_is_400_everywhere(
    client: httpx.Client, embedded_node: EmbeddedNode, stocked: str
) -> None:
    before = state(embedded_node)
    for path in ("/api/v0/cat", "/api/v0/block/get", "/api/v0/pin/add", "/api/v0/pin/rm"):
        response = client.post(path, params={"arg": "not-a-cid"})
        assert_kubo_error(response, 400, "invalid_cid")
    assert_kubo_error(client.get("/ipfs/not-a-cid"), 400, "invalid_cid")
    assert_kubo_error(client.get("/ipfs/QmTooShort"), 400, "invalid_cid")
    assert state(embedded_node) == before


def test_unknown_codec_is_400(
    client: httpx.Client, embedded_node: EmbeddedNode, stocked: str
) -> None:
    before = state(embedded_node)
    dag_json = str(CID("base32", 1, "dag-json", multihash.digest(b"{}", "sha2-256")))
    assert_kubo_error(client.get(f"/ipfs/{dag_json}"), 400, "unsupported_codec")
    assert_kubo_error(
        client.post("/api/v0/block/get", params={"arg": dag_json}), 400, "unsupported_codec"
    )
    body, ctype = multipart([("b", "application/octet-stream", b"{}")])
    response = client.post(
        "/api/v0/block/put",
        params={"cid-codec": "dag-jose"},
        content=body,
        headers={"Content-Type": ctype},
    )
    assert_kubo_error(response, 400, "usage_error")
    assert state(embedded_node) == before


def test_malformed_block_for_its_codec_is_400(
    client: httpx.Client, embedded_node: EmbeddedNode
) -> None:
    for codec in ("dag-pb", "dag-cbor"):
        body, ctype = multipart([("b", "application/octet-stream", b"\xff\xff not a node")])
        response = client.post(
            "/api/v0/block/put",
            params={"cid-codec": codec},
            content=body,
            headers={"Content-Type": ctype},
        )
        assert_kubo_error(response, 400, "malformed_block")
    assert state(embedded_node) == ({}, set())


def test_dot_dot_is_refused(
    client: httpx.Client, embedded_node: EmbeddedNode, stocked: str, served_node: str
) -> None:
    before = state(embedded_node)
    assert_kubo_error(client.get(f"/ipfs/{stocked}/sub/%2E%2E/a.txt"), 400, "unsafe_path")
    response = client.post("/api/v0/cat", params={"arg": f"/ipfs/{stocked}/sub/../a.txt"})
    assert_kubo_error(response, 400, "unsafe_path")
    # A raw `..` (httpx would normalise it away before sending).
    host = urlsplit(served_node)
    conn = http.client.HTTPConnection(host.hostname or "", host.port, timeout=30)
    conn.request("GET", f"/ipfs/{stocked}/sub/../a.txt")
    raw = conn.getresponse()
    assert raw.status == 400
    assert json.loads(raw.read())["ErrorCode"] == "unsafe_path"
    conn.close()
    # ... and in the names of an upload: nothing of it is kept.
    for name in ("../evil.txt", "site/../../evil.txt", "/etc/passwd", "a\\b", "x/./y"):
        body, ctype = multipart([(name, "text/plain", b"evil")])
        response = client.post("/api/v0/add", content=body, headers={"Content-Type": ctype})
        assert_kubo_error(response, 400, "unsafe_path")
    assert state(embedded_node) == before


def test_missing_arg_is_400(client: httpx.Client) -> None:
    for path in (
        "/api/v0/cat",
        "/api/v0/get",
        "/api/v0/block/get",
        "/api/v0/block/stat",
        "/api/v0/pin/add",
        "/api/v0/pin/rm",
        "/api/v0/dag/export",
    ):
        body = assert_kubo_error(client.post(path), 400, "usage_error")
        assert "required" in body["Message"]


def test_malformed_multipart_is_400_and_keeps_nothing(
    client: httpx.Client, embedded_node: EmbeddedNode, stocked: str
) -> None:
    fresh = Cid.for_block(b"not stored yet", RAW)
    car = b"".join(write_car([fresh], [(fresh, b"not stored yet")]))
    before = state(embedded_node)
    for endpoint, payload, parts in (
        ("/api/v0/add", b"fine", 2),
        ("/api/v0/block/put", b"fine", 2),
        # Several CARs in one request are each imported whole or not at all (as in Kubo,
        # a request is not one transaction); one CAR and a broken body import nothing.
        ("/api/v0/dag/import", car, 1),
    ):
        body, ctype = multipart([("one", "application/octet-stream", payload)] * parts)
        end = body.rindex(b"--", 0, len(body) - 4) - 2  # where the closing boundary starts
        for content, content_type in (
            (body[:end], ctype),  # the body stops before its closing boundary
            (body[: end + 6], ctype),  # ... inside it
            (body[:end] + b"\r\n--" + ctype.split("=")[1].encode() + b"\r\n", ctype),
            (body, "multipart/form-data"),  # no boundary
            (body, "application/octet-stream"),
            (b"garbage without any boundary", ctype),
            (b"", ctype),
        ):
            response = client.post(
                endpoint, content=content, headers={"Content-Type": content_type}
            )
            assert_kubo_error(response, 400, "usage_error")
    assert state(embedded_node) == before


def test_duplicate_names_in_an_upload_are_refused(
    client: httpx.Client, embedded_node: EmbeddedNode
) -> None:
    body, ctype = multipart(
        [
            ("d", "application/x-directory", b""),
            ("d/x", "text/plain", b"1"),
            ("d/x", "text/plain", b"2"),
        ]
    )
    response = client.post("/api/v0/add", content=body, headers={"Content-Type": ctype})
    assert_kubo_error(response, 400, "usage_error")
    assert state(embedded_node) == ({}, set())


def test_unsupported_add_options_are_refused(client: httpx.Client) -> None:
    body, ctype = multipart([("a", "text/plain", b"a")])
    for params in (
        {"trickle": "true"},
        {"chunker": "rabin"},
        {"hash": "blake3"},
        {"cid-version": "2"},
        {"pin": "maybe"},
        {"chunker": "size-0"},
    ):
        response = client.post(
            "/api/v0/add", params=params, content=body, headers={"Content-Type": ctype}
        )
        assert_kubo_error(response, 400, "usage_error")


@pytest.fixture
def small_limit(
    data_dir: Path, embedded_node: EmbeddedNode, serve: Callable[[ASGIApp], str]
) -> str:
    settings = load_settings(env={}, data_dir=data_dir, fsync=False, request_max_bytes=4096)
    return serve(create_ipfs_app(settings, embedded_node))


def test_oversized_body_is_413_by_content_length(
    small_limit: str, embedded_node: EmbeddedNode
) -> None:
    body, ctype = multipart([("big.bin", "application/octet-stream", b"x" * 10_000)])
    response = httpx.post(
        f"{small_limit}/api/v0/add", content=body, headers={"Content-Type": ctype}
    )
    assert_kubo_error(response, 413, "limit_exceeded")
    assert state(embedded_node) == ({}, set())


def test_oversized_body_is_413_while_streaming_and_keeps_nothing(
    small_limit: str, embedded_node: EmbeddedNode
) -> None:
    big = b"y" * 10_000
    big_cid = Cid.for_block(big, RAW)
    cases = []
    for endpoint, first in (("/api/v0/add", b"complete file"), ("/api/v0/block/put", b"block")):
        # The first part is complete (and processed) before the body crosses the limit.
        body, ctype = multipart([("first", "text/plain", first), ("second", "text/plain", big)])
        cases.append((endpoint, body, ctype, body.index(big)))
    car = b"".join(write_car([big_cid], [(big_cid, big)]))
    body, ctype = multipart([("big.car", "application/vnd.ipld.car", car)])
    cases.append(("/api/v0/dag/import", body, ctype, 1024))  # a CAR cut off mid-block
    for endpoint, body, ctype, pause_at in cases:

        def pieces(body: bytes = body, pause_at: int = pause_at) -> Iterator[bytes]:
            yield body[:pause_at]  # chunked, so no Content-Length to refuse up front
            time.sleep(0.3)  # let the server work on what it has
            for i in range(pause_at, len(body), 1024):
                yield body[i : i + 1024]

        response = httpx.post(
            f"{small_limit}{endpoint}", content=pieces(), headers={"Content-Type": ctype}
        )
        assert_kubo_error(response, 413, "limit_exceeded")
        assert state(embedded_node) == ({}, set())


def test_bad_car_is_400_and_imports_nothing(
    client: httpx.Client, embedded_node: EmbeddedNode, stocked: str
) -> None:
    car = client.post("/api/v0/dag/export", params={"arg": stocked}).content
    before = state(embedded_node)
    corrupt = bytearray(car)
    corrupt[-5] ^= 0xFF  # a flipped bit in the last block
    for payload, code in (
        (bytes(corrupt), "car_invalid"),
        (car[: len(car) // 2], "car_invalid"),
        (b"\x05hello", "car_invalid"),
    ):
        body, ctype = multipart([("x.car", "application/vnd.ipld.car", payload)])
        response = client.post("/api/v0/dag/import", content=body, headers={"Content-Type": ctype})
        assert_kubo_error(response, 400, code)
    assert state(embedded_node) == before


def test_unknown_endpoints_methods_and_browsers(client: httpx.Client) -> None:
    assert_kubo_error(client.post("/api/v0/swarm/peers"), 404, "not_found")
    assert_kubo_error(client.get("/api/v0/version"), 405, "method_not_allowed")
    assert_kubo_error(
        client.post("/api/v0/version", headers={"Origin": "http://127.0.0.1:5001"}),
        403,
        "browser_request_refused",
    )
    assert_kubo_error(
        client.post("/api/v0/pin/rm", headers={"Sec-Fetch-Site": "same-origin"}),
        403,
        "browser_request_refused",
    )
    assert client.post("/api/v0/version").status_code == 200


def test_pin_errors_leave_pins_alone(
    client: httpx.Client, embedded_node: EmbeddedNode, stocked: str
) -> None:
    before = state(embedded_node)
    # One good and one unpinned argument: nothing is removed.
    response = client.post("/api/v0/pin/rm", params={"arg": [stocked, HELLO_CID]})
    assert_kubo_error(response, 404, "not_found")
    missing = raw_cid(b"never stored")
    assert_kubo_error(
        client.post("/api/v0/pin/add", params={"arg": missing}), 404, "block_not_found"
    )
    assert_kubo_error(client.post("/api/v0/pin/ls", params={"arg": missing}), 404, "not_found")
    assert_kubo_error(client.post("/api/v0/pin/ls", params={"type": "bogus"}), 400, "usage_error")
    assert state(embedded_node) == before


def test_missing_content_is_404(client: httpx.Client, stocked: str) -> None:
    missing = raw_cid(b"never stored")
    assert_kubo_error(client.get(f"/ipfs/{missing}"), 404, "block_not_found")
    assert_kubo_error(client.get(f"/ipfs/{stocked}/nope.txt"), 404, "not_found")
    assert_kubo_error(
        client.post("/api/v0/dag/export", params={"arg": missing}), 404, "block_not_found"
    )
    assert_kubo_error(client.post("/api/v0/cat", params={"arg": missing}), 404, "block_not_found")
    assert_kubo_error(
        client.post("/api/v0/cat", params={"arg": stocked}), 400, "usage_error"
    )  # a directory


def test_a_corrupt_block_is_reported_not_served(
    client: httpx.Client, embedded_node: EmbeddedNode
) -> None:
    add(client, [("h.txt", "text/plain", HELLO)])
    embedded_node.store.path_of(Cid.parse(HELLO_CID).multihash).write_bytes(b"tampered")
    # A fault of the node, not of the request: 5xx, still Kubo's body, no bytes, no trace.
    for response in (
        client.get(f"/ipfs/{HELLO_CID}"),
        client.get(f"/ipfs/{HELLO_CID}?format=raw"),
        client.post("/api/v0/cat", params={"arg": HELLO_CID}),
    ):
        assert_kubo_error(response, 500, "corrupt_block")
        assert b"tampered" not in response.content


# ---- RPC reads -----------------------------------------------------------------------------


def test_cat_offset_and_length(client: httpx.Client, stocked: str, tmp_path: Path) -> None:
    data = (tmp_path / "site" / "big.bin").read_bytes()
    arg = f"/ipfs/{stocked}/big.bin"
    assert client.post("/api/v0/cat", params={"arg": arg}).content == data
    for offset, length in ((0, 10), (262_140, 20), (599_990, 100), (700_000, 5), (5, 0)):
        response = client.post(
            "/api/v0/cat", params={"arg": arg, "offset": offset, "length": length}
        )
        assert response.content == data[offset : offset + length]
    response = client.post("/api/v0/cat", params={"arg": arg, "offset": "-1"})
    assert_kubo_error(response, 400, "usage_error")


def test_get_is_a_tar_of_the_tree(client: httpx.Client, stocked: str, tmp_path: Path) -> None:
    response = client.post(
        "/api/v0/get", params={"arg": stocked, "archive": "true", "compress": "false"}
    )
    assert response.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
        names = set(tar.getnames())
        sub_b = tar.extractfile(f"{stocked}/sub/b.txt")
        assert sub_b is not None and sub_b.read() == b"b" * 1000
    assert f"{stocked}/empty" in names and f"{stocked}/{HOSTILE}" in names
    gz = client.post("/api/v0/get", params={"arg": f"{stocked}/sub", "compress": "true"})
    with tarfile.open(fileobj=io.BytesIO(gz.content), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["sub", "sub/b.txt", "sub/deeper", "sub/deeper/c"]


def test_block_put_get_stat(client: httpx.Client, embedded_node: EmbeddedNode) -> None:
    body, ctype = multipart([("b", "application/octet-stream", b"a raw block")])
    response = client.post("/api/v0/block/put", content=body, headers={"Content-Type": ctype})
    assert response.json() == {"Key": raw_cid(b"a raw block"), "Size": 11}
    got = client.post("/api/v0/block/get", params={"arg": raw_cid(b"a raw block")})
    assert got.content == b"a raw block"
    stat = client.post("/api/v0/block/stat", params={"arg": raw_cid(b"a raw block")})
    assert stat.json() == {"Key": raw_cid(b"a raw block"), "Size": 11}
    # The dag-pb block of `hello world\n`, put as format=v0, comes back as Kubo's CIDv0.
    hello_block = add_then_block(client, embedded_node)
    body, ctype = multipart([("b", "application/octet-stream", hello_block)])
    response = client.post(
        "/api/v0/block/put", params={"format": "v0"}, content=body, headers={"Content-Type": ctype}
    )
    assert response.json() == {"Key": HELLO_CID, "Size": len(hello_block)}
    big, ctype = multipart([("b", "application/octet-stream", b"z" * ((1 << 20) + 1))])
    response = client.post("/api/v0/block/put", content=big, headers={"Content-Type": ctype})
    assert_kubo_error(response, 413, "limit_exceeded")


def add_then_block(client: httpx.Client, node: EmbeddedNode) -> bytes:
    add(client, [("h", "text/plain", HELLO)], pin="false")
    block = client.post("/api/v0/block/get", params={"arg": HELLO_CID}).content
    assert CID.decode(HELLO_CID).raw_digest == hashlib.sha256(block).digest()
    return block


def test_pin_add_ls_rm(client: httpx.Client, embedded_node: EmbeddedNode, stocked: str) -> None:
    add(client, [("h.txt", "text/plain", HELLO)], pin="false")
    assert client.post("/api/v0/pin/add", params={"arg": HELLO_CID}).json() == {"Pins": [HELLO_CID]}
    keys = client.post("/api/v0/pin/ls").json()["Keys"]
    assert keys[HELLO_CID]["Type"] == "recursive" and keys[stocked]["Type"] == "recursive"
    assert {k for k, v in keys.items() if v["Type"] == "indirect"}  # the tree's blocks
    only = client.post("/api/v0/pin/ls", params={"type": "recursive"}).json()["Keys"]
    assert set(only) == {HELLO_CID, stocked}
    sub = client.post("/api/v0/pin/ls", params={"arg": f"{stocked}/sub"}).json()["Keys"]
    [sub_type] = sub.values()
    assert sub_type["Type"] == f"indirect through {stocked}"
    assert client.post("/api/v0/pin/rm", params={"arg": HELLO_CID}).json() == {"Pins": [HELLO_CID]}
    # Still inside the tree (site/a.txt), so still pinned, indirectly.
    assert client.post("/api/v0/pin/ls").json()["Keys"][HELLO_CID]["Type"] == "indirect"
    assert {str(c) for c in embedded_node.pin_ls()} == {stocked}


def test_dag_export_import_options(
    client: httpx.Client, embedded_node: EmbeddedNode, stocked: str
) -> None:
    car = client.post("/api/v0/dag/export", params={"arg": stocked})
    assert car.headers["content-type"] == "application/vnd.ipld.car"
    reader = CarReader(io.BytesIO(car.content))
    assert [str(r) for r in reader.roots] == [stocked]
    count = sum(1 for _ in reader.blocks())
    client.post("/api/v0/pin/rm", params={"arg": stocked})
    body, ctype = multipart([("x.car", "application/vnd.ipld.car", car.content)])
    lines = client.post(
        "/api/v0/dag/import",
        params={"pin-roots": "false", "stats": "true"},
        content=body,
        headers={"Content-Type": ctype},
    ).text.splitlines()
    assert [json.loads(line) for line in lines] == [{"Stats": {"BlockCount": count}}]
    assert embedded_node.pin_ls() == {}
    lines = client.post(
        "/api/v0/dag/import", content=body, headers={"Content-Type": ctype}
    ).text.splitlines()
    assert [json.loads(line) for line in lines] == [
        {"Root": {"Cid": {"/": stocked}, "PinErrorMsg": ""}}
    ]
    assert [str(c) for c in embedded_node.pin_ls()] == [stocked]


def test_version_and_id(client: httpx.Client) -> None:
    version = client.post("/api/v0/version").json()
    assert set(version) == {"Version", "Commit", "Repo", "System", "Golang"}
    assert tuple(int(p) for p in version["Version"].split(".")) >= (0, 5, 0)
    ident = client.post("/api/v0/id").json()
    assert {"ID", "Addresses", "AgentVersion"} <= set(ident)


# ---- the gateway ---------------------------------------------------------------------------


def test_gateway_file_headers(client: httpx.Client, stocked: str) -> None:
    response = client.get(f"/ipfs/{stocked}/a.txt")
    assert response.status_code == 200
    assert response.content == HELLO
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["etag"] == f'"{HELLO_CID}"'
    assert response.headers["cache-control"] == "public, max-age=29030400, immutable"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-ipfs-path"] == f"/ipfs/{stocked}/a.txt"
    assert response.headers["content-length"] == str(len(HELLO))
    glb = client.get(f"/ipfs/{stocked}/model.glb")
    assert glb.headers["content-type"] == "model/gltf-binary"
    bare = client.get(f"/ipfs/{HELLO_CID}")
    assert bare.content == HELLO
    assert bare.headers["content-type"] == "application/octet-stream"
    no_ext = client.get(f"/ipfs/{stocked}/sub/deeper/c")
    assert no_ext.status_code == 200 and no_ext.content == b""
    assert no_ext.headers["etag"] == f'"{EMPTY_FILE_CID}"'
    assert no_ext.headers["content-type"] == "application/octet-stream"


def test_gateway_head(client: httpx.Client, stocked: str) -> None:
    response = client.head(f"/ipfs/{stocked}/big.bin")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "600000"
    assert response.headers["etag"].startswith('"')
    car = client.head(f"/ipfs/{stocked}?format=car")
    assert car.status_code == 200 and car.content == b""


def test_gateway_etag_304(client: httpx.Client, stocked: str) -> None:
    url = f"/ipfs/{stocked}/a.txt"
    for tag in (f'"{HELLO_CID}"', f'W/"{HELLO_CID}"', f'"x", "{HELLO_CID}"', "*"):
        response = client.get(url, headers={"If-None-Match": tag})
        assert response.status_code == 304
        assert response.content == b""
        assert response.headers["etag"] == f'"{HELLO_CID}"'
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200


def test_gateway_ranges(client: httpx.Client, stocked: str, tmp_path: Path) -> None:
    data = (tmp_path / "site" / "big.bin").read_bytes()
    url = f"/ipfs/{stocked}/big.bin"
    cases = {
        "bytes=0-4": (0, 4),
        "bytes=262000-262300": (262_000, 262_300),  # across a chunk boundary
        "bytes=599990-": (599_990, 599_999),
        "bytes=-10": (599_990, 599_999),
        "bytes=599995-700000": (599_995, 599_999),
    }
    for header, (first, last) in cases.items():
        response = client.get(url, headers={"Range": header})
        assert response.status_code == 206, header
        assert response.content == data[first : last + 1]
        assert response.headers["content-range"] == f"bytes {first}-{last}/600000"
        assert response.headers["content-length"] == str(last - first + 1)
    for header in ("bytes=600000-", "bytes=700000-700010", "bytes=-0"):
        response = client.get(url, headers={"Range": header})
        assert_kubo_error(response, 416, "range_not_satisfiable")
        assert response.headers["content-range"] == "bytes */600000"
    # Ignored, as RFC 9110 allows: several ranges, a malformed one, a stale If-Range.
    for headers in (
        {"Range": "bytes=0-1,5-6"},
        {"Range": "bytes=abc"},
        {"Range": "bytes=0-1", "If-Range": '"stale"'},
    ):
        response = client.get(url, headers=headers)
        assert response.status_code == 200 and response.content == data
    empty = client.get(f"/ipfs/{EMPTY_FILE_CID}", headers={"Range": "bytes=0-"})
    assert_kubo_error(empty, 416, "range_not_satisfiable")


def test_a_second_path_request_reads_only_the_file(
    settings: Settings, serve: Callable[[ASGIApp], str], tmp_path: Path
) -> None:
    store = CountingBlockstore(settings.blocks_dir)
    node = EmbeddedNode(store)
    try:
        with httpx.Client(base_url=serve(create_ipfs_app(settings, node)), timeout=60) as c:
            root = add(c, parts_of(tree(tmp_path)))[-1]["Hash"]
            url = f"/ipfs/{root}/sub/b.txt"
            first = c.get(url)
            assert first.status_code == 200 and first.content == b"b" * 1000
            store.reads.clear()
            second = c.get(url)
            assert (second.status_code, second.content) == (200, first.content)
            assert second.headers == first.headers
            # The directories were parsed once; the file's bytes are read (and verified) again.
            file_cid = Cid.parse(second.headers["etag"].strip('"'))
            assert dict(store.reads) == {file_cid: 1}
            # A directory gone from the store is not served from memory.
            assert c.get(f"/ipfs/{root}/sub/").status_code == 200
            store.delete_block(node.resolve(f"/ipfs/{root}/sub").multihash)
            assert_kubo_error(c.get(url), 404, "block_not_found")
    finally:
        node.close()


def test_a_large_file_streams_verified_and_ranges_stay_exact(
    client: httpx.Client, embedded_node: EmbeddedNode
) -> None:
    size = 3 * 1024 * 1024 + 12_345  # over what is read whole before answering
    data = os.urandom(size)
    for params in ({}, {"cid-version": "1"}):  # dag-pb leaves (Kubo's default), raw leaves
        cid = add(client, [("big.bin", "application/octet-stream", data)], **params)[-1]["Hash"]
        url = f"/ipfs/{cid}"
        whole = client.get(url)
        assert whole.status_code == 200 and whole.content == data
        assert whole.headers["content-length"] == str(size)
        for first, last in (
            (0, 0),
            (1, 262_149),  # across the first leaf's end
            (262_140, 2 * 1024 * 1024 + 7),  # over a MiB: streamed
            (1000, size - 1),
            (size - 10, size - 1),
        ):
            response = client.get(url, headers={"Range": f"bytes={first}-{last}"})
            assert response.status_code == 206
            assert response.content == data[first : last + 1]
            assert response.headers["content-range"] == f"bytes {first}-{last}/{size}"
            assert response.headers["content-length"] == str(last - first + 1)
        head = client.head(url)
        assert head.status_code == 200 and head.headers["content-length"] == str(size)

    # A leaf corrupted on disk is never sent: the stream stops before it, cut, not padded.
    blocks = [c for c, _ in walk_dag(Cid.parse(cid), embedded_node.store.get_block)]
    leaf = blocks[1 + 8]  # raw leaves of 256 KiB: bytes from 2 MiB on, after the first batch
    path = embedded_node.store.path_of(leaf.multihash)
    path.write_bytes(b"tampered".ljust(path.stat().st_size, b"!"))
    received = bytearray()
    with pytest.raises(httpx.TransportError), client.stream("GET", url) as response:
        assert response.status_code == 200
        for piece in response.iter_bytes():
            received += piece
    assert len(received) < size and received == data[: len(received)]
    assert b"tampered" not in received


def test_gateway_format_raw(client: httpx.Client, stocked: str) -> None:
    for response in (
        client.get(f"/ipfs/{stocked}/a.txt?format=raw"),
        client.get(f"/ipfs/{stocked}/a.txt", headers={"Accept": "application/vnd.ipld.raw"}),
    ):
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/vnd.ipld.raw"
        assert CID.decode(HELLO_CID).raw_digest == hashlib.sha256(response.content).digest()
    assert_kubo_error(client.get(f"/ipfs/{stocked}?format=dag-json"), 400, "usage_error")


def test_gateway_format_car_reads_back(client: httpx.Client, stocked: str, tmp_path: Path) -> None:
    for url, headers in (
        (f"/ipfs/{stocked}?format=car", {}),
        (f"/ipfs/{stocked}", {"Accept": "application/vnd.ipld.car"}),
        (f"/ipfs/{stocked}/sub/deeper?format=car", {}),
    ):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/vnd.ipld.car; version=1"
        reader = CarReader(io.BytesIO(response.content))
        assert [str(r) for r in reader.roots] == [stocked]
        blocks = list(reader.blocks())  # verifies every block against its CID
        assert reader.missing_roots() == []
        assert len({c.multihash for c, _ in blocks}) == len(blocks)
        # The archive alone is enough to read the content from a fresh node.
        fresh = EmbeddedNode.open(
            load_settings(env={}, data_dir=tmp_path / f"fresh-{len(blocks)}", fsync=False)
        )
        try:
            fresh.dag_import(io.BytesIO(response.content), pin_roots=False, verify=True)
            assert b"".join(fresh.cat(f"{stocked}/sub/deeper/c")) == b""
            if "deeper" not in url:
                assert b"".join(fresh.cat(f"{stocked}/a.txt")) == HELLO
                assert fresh.resolve(stocked) == reader.roots[0]
        finally:
            fresh.close()


def test_gateway_directory_listing_escapes_names(client: httpx.Client, stocked: str) -> None:
    redirect = client.get(f"/ipfs/{stocked}")
    assert redirect.status_code == 301
    assert redirect.headers["location"] == f"/ipfs/{stocked}/"
    response = client.get(f"/ipfs/{stocked}/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert HOSTILE not in page
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;&amp;&quot;&#x27;.txt" in page
    assert 'href="./%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%26%22%27.txt"' in page
    for name in ("a.txt", "big.bin", "sub", "empty"):
        assert f'href="./{name}"' in page
    hostile = client.get(f"/ipfs/{stocked}/{quote(HOSTILE)}")
    assert hostile.status_code == 200 and hostile.content == b"hostile"


def test_gateway_serves_index_html(client: httpx.Client) -> None:
    lines = add(
        client,
        [
            ("w", "application/x-directory", b""),
            ("w/index.html", "text/html", b"<h1>exhibit</h1>"),
            ("w/style.css", "text/css", b"h1{}"),
        ],
    )
    root = lines[-1]["Hash"]
    response = client.get(f"/ipfs/{root}/")
    assert response.status_code == 200
    assert response.text == "<h1>exhibit</h1>"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["etag"] == f'"{lines[0]["Hash"]}"'
    css = client.get(f"/ipfs/{root}/style.css")
    assert css.headers["content-type"] == "text/css; charset=utf-8"


def test_gateway_tar(client: httpx.Client, stocked: str) -> None:
    response = client.get(f"/ipfs/{stocked}/sub?format=tar")
    assert response.headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
        assert sorted(tar.getnames()) == ["sub", "sub/b.txt", "sub/deeper", "sub/deeper/c"]


# ---- a DAG deeper than the node walks ------------------------------------------------------


def deep_file(
    node: EmbeddedNode, levels: int, leaf: bytes = b"x", *, raw_leaf: bool = True
) -> tuple[Cid, list[Cid]]:
    """A one-leaf file under ``levels`` dag-pb file nodes, one inside the next (the leaf at
    depth ``levels``; raw, or a dag-pb file node as Kubo's CIDv0 default makes them), stored
    in ``node``: (the root, every block top down)."""
    if raw_leaf:
        child = Cid.from_digest(hashlib.sha256(leaf).digest(), RAW)
        node.store.put_verified(child, leaf)
    else:
        block = encode_node(PBNode((), encode_unixfs(UnixFSData(UnixFSType.FILE, data=leaf))))
        child = Cid.from_digest(hashlib.sha256(block).digest(), DAG_PB)
        node.store.put_verified(child, block)
    blocks = [child]
    for _ in range(levels):
        meta = UnixFSData(UnixFSType.FILE, filesize=len(leaf), blocksizes=(len(leaf),))
        data = encode_node(PBNode((PBLink(child, "", len(leaf)),), encode_unixfs(meta)))
        child = Cid.from_digest(hashlib.sha256(data).digest(), DAG_PB)
        node.store.put_verified(child, data)
        blocks.append(child)
    return child, blocks[::-1]


def folder_with(node: EmbeddedNode, name: str, cid: Cid) -> Cid:
    data = encode_node(
        PBNode((PBLink(cid, name, None),), encode_unixfs(UnixFSData(UnixFSType.DIRECTORY)))
    )
    folder = Cid.from_digest(hashlib.sha256(data).digest(), DAG_PB)
    node.store.put_verified(folder, data)
    return folder


def assert_refused_before_any_header(response: httpx.Response, what: str) -> None:
    """An error status with the reason, never 200 with immutable caching and a cut body."""
    body = assert_kubo_error(response, 422, "dag_too_deep")
    assert f"nested more than {MAX_FILE_DEPTH} levels deep" in body["Message"], what
    assert "immutable" not in response.headers.get("cache-control", ""), what
    assert "etag" not in response.headers, what


def test_a_dag_deeper_than_the_node_reads_is_an_error_before_any_header(
    client: httpx.Client, embedded_node: EmbeddedNode, served_node: str
) -> None:
    deepest, _ = deep_file(embedded_node, MAX_FILE_DEPTH)  # the deepest the node reads
    root, blocks = deep_file(embedded_node, MAX_FILE_DEPTH + 1, b"y")
    folder = folder_with(embedded_node, "deep.bin", root)
    ok = client.get(f"/ipfs/{deepest}")
    assert (ok.status_code, ok.content) == (200, b"x")
    assert ok.headers["cache-control"] == "public, max-age=29030400, immutable"

    for url, headers in (
        (f"/ipfs/{root}", {}),
        (f"/ipfs/{root}", {"Range": "bytes=0-0"}),
        (f"/ipfs/{folder}/deep.bin", {}),
        (f"/ipfs/{root}?format=tar", {}),
        (f"/ipfs/{folder}?format=tar", {}),
    ):
        assert_refused_before_any_header(client.get(url, headers=headers), url)
    head = client.head(f"/ipfs/{root}")
    assert head.status_code == 422 and "immutable" not in head.headers.get("cache-control", "")
    for rpc in ("cat", "get"):
        response = client.post(f"/api/v0/{rpc}", params={"arg": str(root)})
        assert_refused_before_any_header(response, rpc)

    # Over a raw socket too: the status line is the first thing sent, and it is the error.
    parts = urlsplit(served_node)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    connection.request("GET", f"/ipfs/{root}")
    raw = connection.getresponse()
    assert raw.status == 422 and json.loads(raw.read())["ErrorCode"] == "dag_too_deep"
    connection.close()

    # With a dag-pb leaf (Kubo's CIDv0 layout), which the check only peeks at: the same.
    pb_ok, _ = deep_file(embedded_node, MAX_FILE_DEPTH, b"z", raw_leaf=False)
    assert client.get(f"/ipfs/{pb_ok}").content == b"z"
    pb_deep, _ = deep_file(embedded_node, MAX_FILE_DEPTH + 1, b"w", raw_leaf=False)
    assert_refused_before_any_header(client.get(f"/ipfs/{pb_deep}"), "dag-pb leaf")
    # A leaf missing from the store is a 404 before any header too, not a cut 200.
    gone, gone_blocks = deep_file(embedded_node, 2, b"gone")
    embedded_node.store.delete_block(gone_blocks[-1].multihash)
    for response in (client.get(f"/ipfs/{gone}"), client.get(f"/ipfs/{gone}?format=tar")):
        assert_kubo_error(response, 404, "block_not_found")
        assert "immutable" not in response.headers.get("cache-control", "")

    # A raw block and a CAR are blocks, not a walk of the file: served whole, and complete.
    block = client.get(f"/ipfs/{root}?format=raw")
    assert block.status_code == 200
    assert block.content == embedded_node.store.get_block(root)
    car = client.get(f"/ipfs/{root}?format=car")
    assert car.status_code == 200
    reader = CarReader(io.BytesIO(car.content))
    assert [cid for cid, _ in reader.blocks()] == blocks
    assert reader.missing_roots() == []
