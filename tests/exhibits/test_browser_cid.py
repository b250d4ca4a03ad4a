"""The in-page verifier's arithmetic, run by Node on the very files the site serves
(exhibits/site/static/js/verify.js and sha256.js): its UnixFS CIDs equal ``heritage cid``'s
(:func:`exhibits.derive.records.file_cid`) for 0, 1, 262144 and 262145 bytes and for a file of
176 chunks (a two-level DAG), with WebCrypto's SHA-256 and with the bundled one; and sha256.js
meets the FIPS 180-2 example vectors and hashlib on every length around the padding bounds.

The browser tests (test_browser_site.py) drive the same module through the verify button, in a
secure context and in one that is not."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from exhibits.derive.records import file_cid

JS = Path(__file__).resolve().parents[2] / "exhibits" / "site" / "static" / "js"
CHUNK = 262144
SIZES = (0, 1, 100, CHUNK, CHUNK + 1, 3 * CHUNK + 17, 176 * CHUNK - 5)


def pattern(size: int) -> bytes:
    """Bytes that differ from chunk to chunk (the same formula as the script's)."""
    index = np.arange(size, dtype=np.uint64)
    return (
        (((index * np.uint64(2654435761)) % np.uint64(1 << 32)) >> np.uint64(24))
        .astype(np.uint8)
        .tobytes()
    )


SCRIPT = """
import { unixfsCid } from '%(verify)s';
import { sha256 } from '%(sha256)s';
const pattern = (size) => {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = Math.imul(i, 2654435761) >>> 24;
  return out;
};
const hex = (bytes) => Buffer.from(bytes).toString('hex');
const subtle = async (bytes) => new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
const bundled = async (bytes) => sha256(bytes);
const input = JSON.parse(process.argv[2]);
const result = { cids: {}, vectors: {}, lengths: [] };
for (const size of input.sizes) {
  const data = pattern(size);
  result.cids[size] = {
    subtle: await unixfsCid(data, { digest: subtle }),
    bundled: await unixfsCid(data, { digest: bundled }),
    lengthOk: data.length === size,
  };
}
for (const text of input.texts) result.vectors[text] = hex(sha256(new TextEncoder().encode(text)));
result.vectors.million = hex(sha256(new TextEncoder().encode('a'.repeat(1000000))));
for (let n = 0; n <= 300; n++) result.lengths.push(hex(sha256(pattern(n))));
console.log(JSON.stringify(result));
"""

FIPS_VECTORS = {
    "abc": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq": (
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    ),
    "": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "million": "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
}


@pytest.fixture(scope="module")
def node_result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("these tests need node (Node.js 20 or later) on PATH")
    script = tmp_path_factory.mktemp("cid") / "cid.mjs"
    script.write_text(
        SCRIPT % {"verify": (JS / "verify.js").as_uri(), "sha256": (JS / "sha256.js").as_uri()}
    )
    arguments = {"sizes": SIZES, "texts": [t for t in FIPS_VECTORS if t != "million"]}
    done = subprocess.run(
        [node, str(script), json.dumps(arguments)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("size", SIZES)
def test_verify_js_cid_equals_heritage_cid(node_result: dict[str, Any], size: int) -> None:
    expected = str(file_cid(pattern(size)))
    got = node_result["cids"][str(size)]
    assert got["lengthOk"]
    assert got["subtle"] == expected
    assert got["bundled"] == expected


def test_the_sizes_reach_every_shape() -> None:
    # One raw leaf (bafk…), one dag-pb root over leaves (bafy…), and a root over roots.
    assert str(file_cid(pattern(CHUNK))).startswith("bafk")
    assert str(file_cid(pattern(CHUNK + 1))).startswith("bafy")
    assert -(-SIZES[-1] // CHUNK) > 174


def test_sha256_js_meets_the_fips_vectors(node_result: dict[str, Any]) -> None:
    assert node_result["vectors"] == FIPS_VECTORS


def test_sha256_js_equals_hashlib_around_the_padding_bounds(node_result: dict[str, Any]) -> None:
    assert node_result["lengths"] == [hashlib.sha256(pattern(n)).hexdigest() for n in range(301)]
