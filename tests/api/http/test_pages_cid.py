"""The verify page's second CID: the exhibit site's verify.js (the one UnixFS implementation the
pages share), run by Node, with ``cidVersion: 0`` gives Kubo's CIDv0 default (dag-pb leaves,
base58btc) and with ``rawLeaves: false`` the CIDv1 of dag-pb leaves: Kubo's published answers
for an empty file and "hello world\\n", and ``heritage cid``'s importer (checked against Kubo
and the JavaScript reference importer in tests/ledger/ipfs/) for one, two and three levels of
the balanced DAG (the last with 1 KiB chunks, as ``--chunk-size`` makes them). Its default
(CIDv1, raw leaves) is unchanged: tests/exhibits/test_browser_cid.py."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ledger.ipfs.unixfs import ImportOptions, import_bytes
from tests.exhibits.test_browser_cid import CHUNK, pattern

JS = Path(__file__).resolve().parents[3] / "exhibits" / "site" / "static" / "js"
#: (size, chunk size): one leaf, two levels, and with 1 KiB chunks three levels (more than
#: 174 leaves) at a small cost.
CASES = ((0, CHUNK), (1, CHUNK), (100, CHUNK), (CHUNK, CHUNK), (CHUNK + 1, CHUNK),
         (3 * CHUNK + 17, CHUNK), (176 * 1024 - 5, 1024))  # fmt: skip
#: Kubo (`ipfs add`, default settings): tests/ledger/ipfs/test_unixfs.py's known answers.
KUBO_EMPTY_V0 = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
KUBO_HELLO_V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"

SCRIPT = """
import { unixfsCid, base58 } from '%(verify)s';
import { sha256 } from '%(sha256)s';
const pattern = (size) => {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = Math.imul(i, 2654435761) >>> 24;
  return out;
};
const bundled = async (bytes) => sha256(bytes);
const input = JSON.parse(process.argv[2]);
const result = { v0: {}, v1dagpb: {} };
for (const [size, chunkSize] of input.cases) {
  const data = pattern(size);
  result.v0[size] = await unixfsCid(data, { cidVersion: 0, digest: bundled, chunkSize });
  result.v1dagpb[size] = await unixfsCid(data, { rawLeaves: false, digest: bundled, chunkSize });
}
result.hello = await unixfsCid(new TextEncoder().encode('hello world\\n'), { cidVersion: 0 });
result.zeros = base58(new Uint8Array([0, 0, 1]));
console.log(JSON.stringify(result));
"""


@pytest.fixture(scope="module")
def node_result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("these tests need node (Node.js 20 or later) on PATH")
    script = tmp_path_factory.mktemp("cid-v0") / "cid.mjs"
    script.write_text(
        SCRIPT % {"verify": (JS / "verify.js").as_uri(), "sha256": (JS / "sha256.js").as_uri()}
    )
    done = subprocess.run(
        [node, str(script), json.dumps({"cases": CASES})],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_kubos_published_cidv0_answers(node_result: dict[str, Any]) -> None:
    assert node_result["v0"]["0"] == KUBO_EMPTY_V0
    assert node_result["hello"] == KUBO_HELLO_V0
    assert node_result["zeros"] == "112"  # leading zero bytes are written as "1"


@pytest.mark.parametrize(("size", "chunk"), CASES)
def test_cidv0_and_dag_pb_leaves_equal_heritage_cid(
    node_result: dict[str, Any], size: int, chunk: int
) -> None:
    data = pattern(size)
    kubo = ImportOptions(cid_version=0, chunk_size=chunk)
    assert node_result["v0"][str(size)] == str(import_bytes(data, kubo).cid)
    dag_pb = ImportOptions(cid_version=1, raw_leaves=False, chunk_size=chunk)
    assert node_result["v1dagpb"][str(size)] == str(import_bytes(data, dag_pb).cid)


def test_the_cases_reach_three_levels() -> None:
    size, chunk = CASES[-1]
    assert -(-size // chunk) > 174
