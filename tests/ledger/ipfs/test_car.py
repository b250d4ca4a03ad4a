"""CARv1: the spec's fixture, export/import round trips, all-or-nothing import of hostile
archives, bounded memory, and fuzzing of the reader (as boxo's car fuzz tests do)."""

from __future__ import annotations

import io
import json
import random
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import CarError, HeritageError, LimitExceeded
from ledger.ipfs import car as car_module
from ledger.ipfs.backend import EmbeddedNode
from ledger.ipfs.blockstore import Blockstore
from ledger.ipfs.car import CarReader, encode_header, write_car
from ledger.ipfs.cid import DAG_CBOR, RAW, Cid, read_uvarint, uvarint
from ledger.ipfs.dag import walk_dag
from ledger.ipfs.unixfs import ImportOptions, import_bytes
from tests.reaching import reached, reaches

FIXTURES = Path(__file__).parent / "fixtures"
SPEC_CAR = (FIXTURES / "carv1-basic.car").read_bytes()
SPEC_LAYOUT: dict[str, Any] = json.loads((FIXTURES / "carv1-basic.json").read_text())
MiB = 1 << 20
# The limits, from go-car rather than from the module under test: go-car v2, options.go,
# `DefaultMaxAllowedHeaderSize uint64 = 32 << 20 // 32MiB` and
# `DefaultMaxAllowedSectionSize uint64 = 8 << 20 // 8MiB`.
MAX_HEADER_SIZE = 32 << 20
MAX_SECTION_SIZE = 8 << 20


def test_the_limits_are_go_cars() -> None:
    assert car_module.MAX_HEADER_SIZE == MAX_HEADER_SIZE
    assert car_module.MAX_SECTION_SIZE == MAX_SECTION_SIZE


@pytest.fixture
def node(tmp_path: Path) -> Iterator[EmbeddedNode]:
    n = EmbeddedNode(Blockstore(tmp_path / "blocks", sync=False))
    yield n
    n.close()


def small_dag(store: Blockstore, seed: int = 1, size: int = 5000) -> Cid:
    """A two-level UnixFS file (1 KiB chunks) stored in ``store``; its root."""
    data = random.Random(seed).randbytes(size)
    return import_bytes(data, ImportOptions(chunk_size=1024, cid_version=1), store).cid


def export(store: Blockstore, root: Cid) -> bytes:
    return b"".join(write_car([root], walk_dag(root, store.get_block)))


def sections(car: bytes) -> tuple[int, list[tuple[int, int]]]:
    """(end of the header, [(start, end) of each section]) read independently of CarReader."""
    length, pos = read_uvarint(car, 0)
    header_end = pos + length
    out: list[tuple[int, int]] = []
    pos = header_end
    while pos < len(car):
        length, body = read_uvarint(car, pos)
        out.append((pos, body + length))
        pos = body + length
    return header_end, out


@pytest.fixture
def source(tmp_path: Path) -> Iterator[tuple[Blockstore, Cid, bytes]]:
    store = Blockstore(tmp_path / "source", sync=False)
    root = small_dag(store)
    yield store, root, export(store, root)
    store.close()


def assert_refused(
    node: EmbeddedNode,
    car: bytes,
    errors: tuple[type[BaseException], ...] = (CarError,),
    **kwargs: Any,
) -> BaseException:
    """Importing ``car`` fails with one of ``errors`` and leaves the store as it was."""
    before = set(node.store.iter_multihashes())
    pins = node.store.pins()
    with pytest.raises(errors) as info:
        node.dag_import(io.BytesIO(car), **kwargs)
    assert set(node.store.iter_multihashes()) == before
    assert node.store.pins() == pins
    assert list(node.store.root.glob(".staging-*")) == []
    assert list(node.store.root.glob("*/.tmp-*")) == []
    return info.value


# ---- the CARv1 spec's fixture --------------------------------------------------------------------


def test_spec_fixture_header_bytes() -> None:
    """Our header for the fixture's roots is byte-for-byte the fixture's header: a varint
    length, then the dag-cbor map {"roots": [CID…], "version": 1} with keys in that order."""
    roots = [Cid.parse(r["/"]) for r in SPEC_LAYOUT["header"]["roots"]]
    header = encode_header(roots)
    assert SPEC_CAR.startswith(header)
    length, pos = read_uvarint(header, 0)
    body = header[pos:]
    assert length == len(body) == 0x63
    assert body[0] == 0xA2  # a map of two entries
    assert body[1:7] == b"\x65roots"
    assert body[7] == 0x80 + len(roots)  # an array of the roots
    at = 8
    for root in roots:
        raw = b"\x00" + bytes(root)
        assert body[at : at + 3] == b"\xd8\x2a\x58"  # tag 42, byte string, 1-byte length
        assert body[at + 3] == len(raw)
        assert body[at + 4 : at + 4 + len(raw)] == raw
        at += 4 + len(raw)
    assert body[at:] == b"\x67version\x01"


def test_spec_fixture_reads_as_described() -> None:
    reader = CarReader(io.BytesIO(SPEC_CAR))
    assert [str(r) for r in reader.roots] == [r["/"] for r in SPEC_LAYOUT["header"]["roots"]]
    seen = []
    start = reader.bytes_read
    for cid, data in reader.blocks():
        seen.append((str(cid), start, reader.bytes_read - start, len(data)))
        start = reader.bytes_read
    expected = [
        (b["cid"]["/"], b["offset"], b["length"], b["blockLength"]) for b in SPEC_LAYOUT["blocks"]
    ]
    assert seen == expected
    assert reader.missing_roots() == []


def test_spec_fixture_rewrites_byte_for_byte() -> None:
    reader = CarReader(io.BytesIO(SPEC_CAR))
    blocks = list(reader.blocks())
    assert b"".join(write_car(reader.roots, blocks)) == SPEC_CAR


def test_spec_fixture_imports_and_pins(node: EmbeddedNode) -> None:
    result = node.dag_import(io.BytesIO(SPEC_CAR))
    assert result.block_count == len(SPEC_LAYOUT["blocks"])
    assert [str(r) for r in result.pinned] == [r["/"] for r in SPEC_LAYOUT["header"]["roots"]]
    stored = {Cid.parse(b["cid"]["/"]).multihash for b in SPEC_LAYOUT["blocks"]}
    assert set(node.store.iter_multihashes()) == stored
    # dag-cbor → dag-pb → raw links are followed: GC keeps everything.
    assert node.gc() == []


# ---- round trip ----------------------------------------------------------------------------------


def test_export_import_round_trip(
    source: tuple[Blockstore, Cid, bytes], node: EmbeddedNode
) -> None:
    store, root, car = source
    result = node.dag_import(io.BytesIO(car))
    assert result.roots == (root,) and result.pinned == (root,)
    assert set(node.store.iter_multihashes()) == set(store.iter_multihashes())
    for multihash in store.iter_multihashes():
        cid = Cid(1, RAW, multihash)
        assert node.store.get_block(cid) == store.get_block(cid)
    assert b"".join(node.dag_export(root)) == car  # same DAG, same order, same bytes
    assert node.gc() == []


def test_import_of_what_is_already_there_changes_nothing(
    source: tuple[Blockstore, Cid, bytes], node: EmbeddedNode
) -> None:
    _, root, car = source
    node.dag_import(io.BytesIO(car))
    before = set(node.store.iter_multihashes())
    node.dag_import(io.BytesIO(car))
    assert set(node.store.iter_multihashes()) == before
    assert node.store.pins() == {root: "recursive"}


# ---- refusals: nothing is kept -------------------------------------------------------------------


@pytest.mark.parametrize("which", ["first", "middle", "last"])
def test_mismatching_block_is_refused(
    source: tuple[Blockstore, Cid, bytes], node: EmbeddedNode, which: str
) -> None:
    _, _, car = source
    _, spans = sections(car)
    index = {"first": 0, "middle": len(spans) // 2, "last": len(spans) - 1}[which]
    damaged = bytearray(car)
    damaged[spans[index][1] - 1] ^= 0x01  # the last byte of that section's block
    error = assert_refused(node, bytes(damaged))
    assert "does not hash to its CID" in str(error)


def test_truncation_anywhere_is_refused_when_the_root_comes_last(
    source: tuple[Blockstore, Cid, bytes], node: EmbeddedNode
) -> None:
    store, root, _ = source
    blocks = list(walk_dag(root, store.get_block))
    car = b"".join(write_car([root], reversed(blocks)))
    assert len(car) < 20_000
    for cut in range(len(car)):
        assert_refused(node, car[:cut])
    node.dag_import(io.BytesIO(car))  # and the whole archive is fine
    assert node.store.pin_kind(root) == "recursive"


def test_truncation_inside_any_section_is_refused(
    source: tuple[Blockstore, Cid, bytes], node: EmbeddedNode
) -> None:
    _, _, car = source
    header_end, spans = sections(car)
    boundaries = {header_end, *(end for _, end in spans)}
    for cut in range(len(car)):
        if cut not in boundaries:
            assert_refused(node, car[:cut], pin_roots=False)
    # At the end of the header no root has come: refused too.
    assert_refused(node, car[:header_end], pin_roots=False)


def test_truncation_at_a_section_boundary_keeps_whole_blocks_only(
    source: tuple[Blockstore, Cid, bytes], tmp_path: Path
) -> None:
    """A CAR cut between sections is a well-formed, shorter CAR (Kubo imports those too
    when not pinning): exactly the blocks before the cut arrive, each one whole."""
    _, _, car = source
    _, spans = sections(car)
    reader = CarReader(io.BytesIO(car))
    order = [cid.multihash for cid, _ in reader.blocks()]
    for k, (_, end) in enumerate(spans):
        store = Blockstore(tmp_path / f"cut-{k}", sync=False)
        try:
            result = EmbeddedNode(store).dag_import(io.BytesIO(car[:end]), pin_roots=False)
            assert result.block_count == k + 1
            assert set(store.iter_multihashes()) == set(order[: k + 1])
            assert store.verify() == []
        finally:
            store.close()


def test_truncation_at_a_section_boundary_is_refused_when_pinning(
    source: tuple[Blockstore, Cid, bytes], node: EmbeddedNode
) -> None:
    """Pinning needs the whole DAG: the completeness walk refuses a CAR cut between
    sections before anything is kept."""
    _, _, car = source
    _, spans = sections(car)
    assert len(spans) > 2
    for _, end in spans[:-1]:
        error = assert_refused(node, car[:end])
        assert "incomplete" in str(error)
    result = node.dag_import(io.BytesIO(car))
    assert result.block_count == len(spans)
    assert result.pinned == result.roots


def test_roots_not_in_the_content_are_refused(
    source: tuple[Blockstore, Cid, bytes], node: EmbeddedNode
) -> None:
    store, root, _ = source
    stranger = Cid.for_block(b"not in this archive", RAW)
    blocks = list(walk_dag(root, store.get_block))
    car = b"".join(write_car([root, stranger], blocks))
    error = assert_refused(node, car)
    assert str(stranger) in str(error)
    assert_refused(node, b"".join(write_car([stranger], blocks)))


def header_bytes(value: object) -> bytes:
    body = cbor2.dumps(value)
    return uvarint(len(body)) + body


def tag(cid: Cid) -> cbor2.CBORTag:
    return cbor2.CBORTag(42, b"\x00" + bytes(cid))


BLOCK = b"payload"
BLOCK_CID = Cid.for_block(BLOCK, RAW)
SECTION = uvarint(len(bytes(BLOCK_CID)) + len(BLOCK)) + bytes(BLOCK_CID) + BLOCK
BAD_HEADERS: dict[str, object] = {
    "version 2": {"roots": [tag(BLOCK_CID)], "version": 2},
    "version 0": {"roots": [tag(BLOCK_CID)], "version": 0},
    "version as text": {"roots": [tag(BLOCK_CID)], "version": "1"},
    "version as float": {"roots": [tag(BLOCK_CID)], "version": 1.0},
    "version as bool": {"roots": [tag(BLOCK_CID)], "version": True},
    "no version": {"roots": [tag(BLOCK_CID)]},
    "no roots": {"version": 1},
    "extra key": {"roots": [tag(BLOCK_CID)], "version": 1, "extra": 1},
    "CARv2 pragma": {"version": 2},
    "empty roots": {"roots": [], "version": 1},
    "roots not a list": {"roots": tag(BLOCK_CID), "version": 1},
    "root as bytes": {"roots": [bytes(BLOCK_CID)], "version": 1},
    "root as text": {"roots": [str(BLOCK_CID)], "version": 1},
    "root as int": {"roots": [1], "version": 1},
    "nested roots": {"roots": [[tag(BLOCK_CID)]], "version": 1},
    "tag 42 without 0x00": {"roots": [cbor2.CBORTag(42, bytes(BLOCK_CID))], "version": 1},
    "tag 42 garbage CID": {"roots": [cbor2.CBORTag(42, b"\x00\x01\x55\x12")], "version": 1},
    "tag 42 unknown codec": {
        "roots": [cbor2.CBORTag(42, b"\x00\x01\xa9\x02\x12\x20" + bytes(32))],
        "version": 1,
    },
    "other tag": {"roots": [cbor2.CBORTag(43, b"\x00" + bytes(BLOCK_CID))], "version": 1},
    "a list": [tag(BLOCK_CID), 1],
    "a number": 1,
    "null": None,
}


@pytest.mark.parametrize("value", list(BAD_HEADERS.values()), ids=list(BAD_HEADERS))
def test_bad_header_is_refused(node: EmbeddedNode, value: object) -> None:
    assert_refused(node, header_bytes(value) + SECTION)


def test_header_with_bytes_after_its_map_is_refused(node: EmbeddedNode) -> None:
    body = cbor2.dumps({"roots": [tag(BLOCK_CID)], "version": 1}) + b"\x00"
    assert_refused(node, uvarint(len(body)) + body + SECTION)
    good = header_bytes({"roots": [tag(BLOCK_CID)], "version": 1})
    assert node.dag_import(io.BytesIO(good + SECTION)).roots == (BLOCK_CID,)


def test_header_or_section_that_is_not_cbor_or_a_cid(node: EmbeddedNode) -> None:
    assert_refused(node, b"\x02\xff\xff" + SECTION)
    assert_refused(node, b"")
    assert_refused(node, b"\x00")  # empty header
    header = header_bytes({"roots": [tag(BLOCK_CID)], "version": 1})
    assert_refused(node, header + b"\x00")  # empty section
    assert_refused(node, header + b"\x05\x02\x55\x12\x20\x00")  # CIDv2
    assert_refused(node, header + b"\x80\x00")  # non-minimal section length


def test_a_varint_longer_than_9_bytes_is_refused_as_such(node: EmbeddedNode) -> None:
    """multiformats/unsigned-varint: "the maximum length of a varint is 9 bytes"."""
    header = header_bytes({"roots": [tag(BLOCK_CID)], "version": 1})
    error = assert_refused(node, header + b"\x80" * 9 + b"\x01" + SECTION)
    assert "longer than 9 bytes" in str(error)


def test_sections_of_127_and_128_bytes_cross_the_varint_boundary(node: EmbeddedNode) -> None:
    """127 is the largest one-byte varint and 128 the smallest two-byte one."""
    blocks = []
    for size in (127, 128, 255, 256):
        data = bytes([size % 251]) * (size - 36)  # 36: a CIDv1 raw sha2-256 is 36 bytes
        cid = Cid.for_block(data, RAW)
        assert len(bytes(cid)) + len(data) == size
        blocks.append((cid, data))
    archive = b"".join(write_car([blocks[0][0]], blocks))
    reader = CarReader(io.BytesIO(archive))
    assert list(reader.blocks()) == blocks
    assert node.dag_import(io.BytesIO(archive)).block_count == 4


def test_a_root_that_is_not_a_cid_is_refused(node: EmbeddedNode) -> None:
    bad_root = cbor2.CBORTag(42, b"\x00\x01\x55\x12")  # a CIDv1 cut inside its multihash
    assert_refused(node, header_bytes({"roots": [bad_root], "version": 1}) + SECTION)


def test_non_minimal_varints_are_refused_as_such(node: EmbeddedNode) -> None:
    """The unsigned-varint spec (multiformats/unsigned-varint): a varint must be minimal, so
    a last byte of 0 after the first is refused, whatever value it spells."""
    header = header_bytes({"roots": [tag(BLOCK_CID)], "version": 1})
    body = header[len(uvarint(len(header) - 1)) :]
    for length in (b"\x81\x00", b"\xa4\x80\x00"):  # 1 and 36, spelled with a spare byte
        error = assert_refused(node, header + length + b"\x01" * 40)
        assert "not minimally encoded" in str(error), length
    long_header = bytes((0x80 | len(body),)) + b"\x00" + body  # the header's length, spare byte
    assert "not minimally encoded" in str(assert_refused(node, long_header + SECTION))


def test_header_length_over_32_mib_is_refused(node: EmbeddedNode) -> None:
    error = assert_refused(node, uvarint(MAX_HEADER_SIZE + 1) + b"\xa2" * 16)
    assert str(MAX_HEADER_SIZE) in str(error)


def test_a_header_of_exactly_32_mib_is_not_refused_for_its_size(node: EmbeddedNode) -> None:
    error = assert_refused(node, uvarint(MAX_HEADER_SIZE) + b"\xa2\x65roots")
    assert "truncated" in str(error)  # read as far as there is, not refused as too large


def test_section_length_over_8_mib_is_refused(node: EmbeddedNode) -> None:
    header = header_bytes({"roots": [tag(BLOCK_CID)], "version": 1})
    error = assert_refused(node, header + SECTION + uvarint(MAX_SECTION_SIZE + 1) + b"\x01")
    assert str(MAX_SECTION_SIZE) in str(error)


def test_largest_section_is_accepted(node: EmbeddedNode) -> None:
    cid = Cid.for_block(b"\x00" * (MAX_SECTION_SIZE - 36), RAW)
    data = b"\x00" * (MAX_SECTION_SIZE - len(bytes(cid)))
    cid = Cid.for_block(data, RAW)
    car = b"".join(write_car([cid], [(cid, data)]))
    assert node.dag_import(io.BytesIO(car)).block_count == 1


def test_car_over_the_size_limit_is_refused(
    source: tuple[Blockstore, Cid, bytes], tmp_path: Path
) -> None:
    _, root, car = source
    store = Blockstore(tmp_path / "limited", sync=False)
    try:
        limited = EmbeddedNode(store, car_max_bytes=len(car) - 1)
        error = assert_refused(limited, car, (LimitExceeded,))
        assert str(len(car) - 1) in str(error)
        at_limit = EmbeddedNode(store, car_max_bytes=len(car))
        assert at_limit.dag_import(io.BytesIO(car)).roots == (root,)
    finally:
        store.close()


# ---- memory stays bounded ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        uvarint(MAX_HEADER_SIZE) + b"\xa2\x65roots",  # claims the largest header, has 7 bytes
        uvarint(MAX_HEADER_SIZE + 1) + b"\xa2",
        uvarint(64 << 30) + b"\xa2",
        header_bytes({"roots": [tag(BLOCK_CID)], "version": 1}) + uvarint(MAX_SECTION_SIZE) + b"x",
        header_bytes({"roots": [tag(BLOCK_CID)], "version": 1}) + uvarint(1 << 62),
        uvarint(10) + b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff\x00",  # a CBOR array of 2**64
        uvarint(10) + b"\x5b\x00\x00\x00\x00\xff\xff\xff\xff\x00",  # a 4 GiB byte string
    ],
    ids=[
        "header-32MiB",
        "header-over",
        "header-64GiB",
        "section-8MiB",
        "section-huge",
        "cbor-array",
        "cbor-bytes",
    ],
)
def test_hostile_lengths_cost_little_memory(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "hostile.car"
    path.write_bytes(content)
    with path.open("rb") as stream:  # a real file: its read(n) allocates n bytes up front
        tracemalloc.start()
        try:
            with pytest.raises(CarError):
                reader = CarReader(stream)
                for _ in reader.blocks():
                    pass
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 3 * MiB


# ---- fuzzing -------------------------------------------------------------------------------------


def read_all(data: bytes, max_size: int | None = None) -> list[tuple[Cid, bytes]]:
    """Everything CarReader yields for ``data``; it raises only CarError or LimitExceeded."""
    reader = CarReader(io.BytesIO(data), max_size=max_size)
    out = []
    for cid, block in reader.blocks():
        assert cid.matches(block)
        out.append((cid, block))
    return out


def _base_cars() -> list[bytes]:
    with tempfile.TemporaryDirectory() as scratch:
        store = Blockstore(Path(scratch), sync=False)
        try:
            root = small_dag(store, seed=7, size=3000)
            forward = export(store, root)
            cbor_block = cbor2.dumps({"link": tag(root), "n": 1})
            cbor_cid = Cid.for_block(cbor_block, DAG_CBOR)
            mixed = b"".join(
                write_car([cbor_cid], [(cbor_cid, cbor_block), *walk_dag(root, store.get_block)])
            )
        finally:
            store.close()
    return [SPEC_CAR, forward, mixed]


BASE_CARS = _base_cars()


@st.composite
def mutated_cars(draw: st.DrawFn) -> bytes:
    car = bytearray(draw(st.sampled_from(BASE_CARS)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "set"]))
        at = draw(st.integers(0, max(0, len(car) - 1)))
        if op == "flip" and car:
            car[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del car[at:]
        elif op == "insert":
            car[at:at] = draw(st.binary(min_size=1, max_size=12))
        elif op == "delete":
            del car[at : at + draw(st.integers(1, 40))]
        elif op == "set" and car:
            car[at] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF, 0x12, 0x20, 0xA2]))
    return bytes(car)


@reaches(0.8)
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_reader_fuzz_random_bytes(data: bytes) -> None:
    try:
        read_all(data)
    except (CarError, LimitExceeded):
        reached("refused cleanly")
    else:
        reached("read")


@reaches(0.8)
@settings(max_examples=500, deadline=None)
@given(mutated_cars(), st.none() | st.integers(0, 1000))
def test_reader_fuzz_mutated_cars(data: bytes, max_size: int | None) -> None:
    try:
        read_all(data, max_size)
    except (CarError, LimitExceeded):
        reached("refused cleanly")
    else:
        reached("read")


@reaches(0.8)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_cars())
def test_import_fuzz_is_all_or_nothing(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        store = Blockstore(Path(scratch), sync=False)
        try:
            node = EmbeddedNode(store)
            try:
                result = node.dag_import(io.BytesIO(data), pin_roots=False)
            except HeritageError:
                assert list(store.iter_multihashes()) == []
                assert list(store.root.glob(".staging-*")) == []
                reached("refused, nothing stored")
                return
            assert store.verify() == []
            assert len(set(store.iter_multihashes())) <= result.block_count
            reached("imported")
        finally:
            store.close()


def test_stream_argument_is_binary_io(source: tuple[Blockstore, Cid, bytes]) -> None:
    """CarReader takes any object with read(); a file on disk works as well as BytesIO."""
    _, root, car = source
    with tempfile.TemporaryFile() as f:
        f.write(car)
        f.seek(0)
        stream: BinaryIO = f
        reader = CarReader(stream)
        assert reader.roots == (root,)
        assert len(list(reader.blocks())) == len(sections(car)[1])
