"""proofs.json (exhibits.proofs): the documented shape, CIDs an independent importer agrees
with, determinism, refusals; and its strict reader (ledger.verify.exhibit_proofs)."""

from __future__ import annotations

import copy
import io
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from PIL import Image

from exhibits.derive.cache import DerivationCache
from exhibits.derive.images import derive_image
from exhibits.derive.posters import derive_other_cached
from exhibits.model import ChainRef, ItemFiles
from exhibits.proofs import proofs_document
from ledger.errors import InvalidExhibitProofs, NaiveDatetime, UsageError
from ledger.ipfs.cid import Cid
from ledger.ipfs.unixfs import ImportOptions, import_bytes
from ledger.verify.exhibit_proofs import (
    MAX_EXHIBIT_PROOFS_BYTES,
    is_exhibit_proofs,
    parse_exhibit_proofs,
)
from tests.exhibits.proofs_support import exhibited

CHAIN = ChainRef(chain_id=31337, registry="0x5FbDB2315678afecb367f032d93F642f64180aa3")
BUILT = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
KEY_A, KEY_B = bytes(range(32)), bytes(range(1, 33))
COMMUNITY = bytes.fromhex("ab" * 32)


def _jpeg(seed: int) -> bytes:
    rng = random.Random(seed)
    out = io.BytesIO()
    Image.frombytes("RGB", (40, 30), rng.randbytes(40 * 30 * 3)).save(out, format="JPEG")
    return out.getvalue()


def _image_item(seed: int, key: bytes) -> Any:
    master = _jpeg(seed)
    derived = derive_image(master)
    files = ItemFiles(kind="image", files=derived.files, records=(derived.record,))
    return exhibited(
        files,
        key=key,
        cid=derived.record.master_cid,
        community=COMMUNITY,
        transaction="0x" + "cd" * 32,
        terms_cid=derived.record.master_cid,
    )


def _document() -> dict[str, Any]:
    return proofs_document(CHAIN, [_image_item(2, KEY_B), _image_item(1, KEY_A)], built_at=BUILT)


def test_the_documented_shape() -> None:
    document = _document()
    schema = json.loads(
        (
            Path(__file__).parents[2] / "ledger" / "schemas" / "exhibit-proofs.schema.json"
        ).read_text()
    )
    jsonschema.validate(document, schema)
    assert document["type"] == "heritage/exhibit-proofs" and document["version"] == 1
    assert document["chain"] == {"chain_id": 31337, "registry": CHAIN.registry}
    assert document["built_at"] == "2026-05-06T07:08:09Z"
    ids = list(document["items"])
    assert ids == sorted(ids) == ["0x" + KEY_A.hex(), "0x" + KEY_B.hex()]
    item = document["items"]["0x" + KEY_A.hex()]
    assert item["claim"]["key"] == "0x" + KEY_A.hex()
    assert item["claim"]["community"] == "0x" + COMMUNITY.hex()
    assert [f["name"] for f in item["files"]] == ["image.jpg", "thumbnail.jpg"]
    first = item["files"][0]
    assert first["path"] == f"items/0x{KEY_A.hex()}/files/image.jpg"
    assert first["import"] == {
        "cid_version": 1,
        "raw_leaves": True,
        "chunk_size": 262144,
        "hash": "sha2-256",
        "layout": "balanced",
        "max_links": 174,
    }
    assert item["derivations"][0]["master"] == item["claim"]["cid"]


def test_file_cids_are_those_the_listed_settings_give() -> None:
    # Recomputed with the UnixFS importer under the settings the entry spells out (the
    # importer's own Kubo vectors are in tests/ledger).
    files = ItemFiles(
        kind="other",
        files=(derive_image(_jpeg(3)).display,),
        records=(derive_image(_jpeg(3)).record,),
    )
    document = proofs_document(
        CHAIN,
        [exhibited(files, key=KEY_A, cid=files.records[0].master_cid, community=COMMUNITY)],
        built_at=BUILT,
    )
    entry = document["items"]["0x" + KEY_A.hex()]["files"][0]
    settings = entry["import"]
    options = ImportOptions(
        cid_version=settings["cid_version"],
        raw_leaves=settings["raw_leaves"],
        chunk_size=settings["chunk_size"],
    )
    assert entry["cid"] == str(import_bytes(files.files[0].data, options).cid)
    assert entry["size"] == len(files.files[0].data)


def test_deterministic_and_independent_of_item_order() -> None:
    a = json.dumps(_document(), sort_keys=True)
    items = [_image_item(1, KEY_A), _image_item(2, KEY_B)]
    b = json.dumps(
        proofs_document(CHAIN, items, built_at=BUILT.astimezone(timezone(timedelta(hours=12)))),
        sort_keys=True,
    )
    assert a == b


def test_refusals() -> None:
    item = _image_item(1, KEY_A)
    with pytest.raises(NaiveDatetime):
        proofs_document(CHAIN, [item], built_at=datetime(2026, 1, 1))
    with pytest.raises(UsageError, match="listed twice"):
        proofs_document(CHAIN, [item, item], built_at=BUILT)
    other = _image_item(2, KEY_B)
    swapped = exhibited(other.files, key=KEY_B, cid=item.candidate.cid, community=COMMUNITY)
    with pytest.raises(UsageError, match="another master"):
        proofs_document(CHAIN, [swapped], built_at=BUILT)


def test_transaction_hashes_are_written_in_one_form() -> None:
    item = _image_item(1, KEY_A)
    for written in ("CD" * 32, "0x" + "Cd" * 32):
        files = item.files
        again = exhibited(
            files, key=KEY_A, cid=item.candidate.cid, community=COMMUNITY, transaction=written
        )
        document = proofs_document(CHAIN, [again], built_at=BUILT)
        assert document["items"]["0x" + KEY_A.hex()]["claim"]["transaction"] == "0x" + "cd" * 32
    bad = exhibited(
        item.files, key=KEY_A, cid=item.candidate.cid, community=COMMUNITY, transaction="0x1234"
    )
    with pytest.raises(UsageError, match="not a transaction hash"):
        proofs_document(CHAIN, [bad], built_at=BUILT)


def test_a_poster_item(tmp_path: Path) -> None:
    master = b"%PDF-1.4 minutes"
    files = derive_other_cached(master, "m.pdf", "application/pdf", DerivationCache(tmp_path))
    document = proofs_document(
        CHAIN,
        [exhibited(files, key=KEY_A, cid=files.records[0].master_cid, community=COMMUNITY)],
        built_at=BUILT,
    )
    parsed = parse_exhibit_proofs(json.dumps(document).encode())
    assert [f.name for f in parsed.items[0].files] == ["poster.png"]


def test_the_reader_reads_what_the_writer_writes() -> None:
    data = json.dumps(_document()).encode()
    assert is_exhibit_proofs(data)
    parsed = parse_exhibit_proofs(data)
    assert (parsed.chain_id, parsed.registry) == (31337, CHAIN.registry)
    assert [i.key for i in parsed.items] == [KEY_A, KEY_B]
    assert parsed.items[0].files[0].cid == Cid.parse(
        _document()["items"]["0x" + KEY_A.hex()]["files"][0]["cid"]
    )
    assert not is_exhibit_proofs(b'{"type": "heritage/proofs", "version": 2}')


def _broken(change: Any) -> bytes:
    document = copy.deepcopy(_document())
    change(document)
    return json.dumps(document).encode()


def _item0(d: dict[str, Any]) -> dict[str, Any]:
    return d["items"]["0x" + KEY_A.hex()]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("not json", b'{"type": "heritage/exhibit-proofs", '),
        ("duplicate key", b'{"type": "heritage/exhibit-proofs", "type": "x"}'),
        ("too deep", b'{"type": "heritage/exhibit-proofs", "x": ' + b"[" * 100 + b"]" * 100 + b"}"),
        ("unknown field", _broken(lambda d: d.update(extra=1))),
        ("version 2", _broken(lambda d: d.update(version=2))),
        ("bad cid", _broken(lambda d: _item0(d)["files"][0].update(cid="bafyzzzzzzzzzzzz"))),
        ("path escapes", _broken(lambda d: _item0(d)["files"][0].update(path="../../etc/passwd"))),
        (
            "path of another item",
            _broken(
                lambda d: _item0(d)["files"][0].update(
                    path=f"items/0x{KEY_B.hex()}/files/image.jpg"
                )
            ),
        ),
        ("key not its own", _broken(lambda d: _item0(d)["claim"].update(key="0x" + KEY_B.hex()))),
        ("unlisted file", _broken(lambda d: _item0(d)["derivations"][0]["outputs"].pop(0))),
        (
            "another master",
            _broken(
                lambda d: _item0(d)["derivations"][0].update(master=_item0(d)["files"][1]["cid"])
            ),
        ),
        ("chunk size", _broken(lambda d: _item0(d)["files"][0]["import"].update(chunk_size=0))),
        ("layout", _broken(lambda d: _item0(d)["files"][0]["import"].update(layout="trickle"))),
        ("built_at", _broken(lambda d: d.update(built_at="2026-13-45T99:00:00Z"))),
        ("nan", b'{"type": "heritage/exhibit-proofs", "version": NaN}'),
    ],
)
def test_hostile_proofs_are_invalid_documents(name: str, data: bytes) -> None:
    assert is_exhibit_proofs(data)
    with pytest.raises(InvalidExhibitProofs) as caught:
        parse_exhibit_proofs(data, "site/proofs.json")
    assert caught.value.exit_code == 4
    assert caught.value.message.startswith("site/proofs.json: ")


def test_the_size_cap_is_checked_before_parsing() -> None:
    data = b'{"type": "heritage/exhibit-proofs"}' + b" " * MAX_EXHIBIT_PROOFS_BYTES
    with pytest.raises(InvalidExhibitProofs, match="over the cap"):
        parse_exhibit_proofs(data)
