"""The UnixFS importer against Kubo's published CIDs and the JS reference importer, run live.

Every CID compared here comes from outside this project: Kubo's documented outputs, or
``tests/js/kubo_reference.mjs`` (the npm ``ipfs-unixfs-importer`` configured as Kubo's
``ipfs add``) run on the very same files. The big inputs (174 chunks is ~45 MiB) are written
once per session, and the JS harness runs once per configuration for all of them.
"""

from __future__ import annotations

import io
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

import pytest

from ledger.errors import ShardingRequired
from ledger.ipfs.cid import Cid
from ledger.ipfs.dag import walk_dag
from ledger.ipfs.files import read_file
from ledger.ipfs.unixfs import (
    CHUNK_SIZE,
    MAX_LINKS,
    ImportOptions,
    import_bytes,
    import_file,
    import_path,
    import_stream,
)
from tests.kubo_reference import run_kubo_reference

REPO = Path(__file__).resolve().parents[3]

# Kubo's published answers (`ipfs add`, default settings).
HELLO_WORLD_V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"  # "hello world\n"
EMPTY_FILE_V0 = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
EMPTY_DIR_V0 = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"

SIZES: dict[str, int] = {
    "empty": 0,
    "one-byte": 1,
    "chunk-minus-1": CHUNK_SIZE - 1,
    "one-chunk": CHUNK_SIZE,
    "chunk-plus-1": CHUNK_SIZE + 1,
    "174-chunks": MAX_LINKS * CHUNK_SIZE,  # the last size with a single level of links
    "174-chunks-plus-1": MAX_LINKS * CHUNK_SIZE + 1,  # two levels
}
BIG = "174-chunks-plus-1"


@dataclass(frozen=True)
class Config:
    """One way of running ``ipfs add``: our options and the harness's matching flags."""

    name: str
    options: ImportOptions
    flags: tuple[str, ...]


CONFIGS = [
    Config("cidv0", ImportOptions(cid_version=0), ("--cid-version", "0")),
    Config("cidv1", ImportOptions(cid_version=1), ("--cid-version", "1")),
    Config(
        "cidv1-no-raw-leaves",
        ImportOptions(cid_version=1, raw_leaves=False),
        ("--cid-version", "1", "--no-raw-leaves"),
    ),
    Config(
        "cidv0-raw-leaves",
        ImportOptions(cid_version=0, raw_leaves=True),
        ("--cid-version", "0", "--raw-leaves"),
    ),
]
CONFIG_IDS = [c.name for c in CONFIGS]


def pseudo_random(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def write_tree(root: Path, spec: dict[str, object]) -> None:
    """``spec``: name → bytes (a file), dict (a folder), or ("symlink", target)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, value in spec.items():
        path = root / name
        if isinstance(value, bytes):
            path.write_bytes(value)
        elif isinstance(value, dict):
            write_tree(path, value)
        elif isinstance(value, tuple) and value[0] == "symlink":
            os.symlink(str(value[1]), path)
        else:
            raise TypeError(f"cannot write {value!r}")


def tree_specs() -> dict[str, dict[str, object]]:
    """Directory trees whose CIDs the reference computes too (no dotfiles: Kubo skips them)."""
    return {
        "nested": {
            "a.txt": b"alpha\n",
            "B.txt": b"bravo\n",
            "a": {"deeper": {"deepest": {"two-chunks.bin": pseudo_random(CHUNK_SIZE + 7, 11)}}},
            "a-b": {"x": b"x", "empty-subdir": {}},
            "a.txt.bak": b"",
            "zero-length": b"",
            "space in name": b"s",
            "日本語.txt": "こんにちは".encode(),
            "caf\u00e9": b"precomposed",  # NFC and NFD: two different names
            "cafe\u0301": b"decomposed",
            "link-to-a": ("symlink", "a.txt"),
            "dangling-link": ("symlink", "../nowhere"),
            "empty-dir": {},
        },
        # UTF-8 byte order (what dag-pb sorts by) equals code-point order, but not UTF-16
        # order: U+FF21 sorts before U+1F600 in UTF-8 and after it in UTF-16 (surrogates).
        "utf16-vs-utf8-order": {
            "\uff21": b"fullwidth A",
            "\U0001f600": b"emoji",
            "\ue000": b"private use",
            "\U00010000": b"linear b",
            "z": b"ascii",
            "\u00e9": b"e acute",
        },
        "only-empty-subdir": {"empty": {}},
        "empty-dir": {},
        "one-chunk-boundaries": {
            "chunk": pseudo_random(CHUNK_SIZE, 21),
            "chunk-plus-1": pseudo_random(CHUNK_SIZE + 1, 22),
            "one": b"1",
        },
    }


@dataclass
class Corpus:
    root: Path
    files: dict[str, Path] = field(default_factory=dict)
    trees: dict[str, Path] = field(default_factory=dict)
    _reference: dict[str, dict[Path, str]] = field(default_factory=dict)

    def reference(self, config: Config) -> dict[Path, str]:
        """Root CIDs from the JS reference for every file and tree, one harness run each."""
        if config.name not in self._reference:
            paths = [*self.files.values(), *self.trees.values()]
            self._reference[config.name] = dict(
                zip(paths, run_kubo_reference(config.flags, paths), strict=True)
            )
        return self._reference[config.name]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    root = tmp_path_factory.mktemp("unixfs-corpus")
    corpus = Corpus(root)
    for seed, (name, size) in enumerate(SIZES.items()):
        path = root / "files" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(pseudo_random(size, seed))
        corpus.files[name] = path
    for name, spec in tree_specs().items():
        path = root / "trees" / name
        write_tree(path, spec)
        corpus.trees[name] = path
    return corpus


class ShortReads(io.RawIOBase):
    """A stream that hands out at most a few (pseudo-random) bytes per read."""

    def __init__(self, data: bytes, seed: int) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._rng = random.Random(seed)
        self.reads = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self._rng.randint(1, 70_000), len(self._data) - self._pos)
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        self.reads += 1
        return n


# ---- Kubo's published answers --------------------------------------------------------------------


def test_hello_world_is_kubos_cid(tmp_path: Path) -> None:
    assert str(import_bytes(b"hello world\n").cid) == HELLO_WORLD_V0
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello world\n")
    assert str(import_file(path).cid) == HELLO_WORLD_V0
    assert str(import_path(path)[-1].cid) == HELLO_WORLD_V0


def test_empty_file_is_kubos_cid(tmp_path: Path) -> None:
    assert str(import_bytes(b"").cid) == EMPTY_FILE_V0
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert str(import_file(path).cid) == EMPTY_FILE_V0


def test_empty_directory_is_kubos_cid(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    entries = import_path(tmp_path / "empty")
    assert [str(e.cid) for e in entries] == [EMPTY_DIR_V0]
    assert entries[-1].is_dir


def test_cid_versions_name_the_same_dag_pb_node() -> None:
    """CIDv1 without raw leaves is the same block as CIDv0, so the same multihash."""
    v0 = import_bytes(b"hello world\n", ImportOptions(cid_version=0)).cid
    v1 = import_bytes(b"hello world\n", ImportOptions(cid_version=1, raw_leaves=False)).cid
    assert v1 == Cid.parse(HELLO_WORLD_V0).to_v1()
    assert v0.multihash == v1.multihash


# ---- the JS reference, every size class and configuration ----------------------------------------


@pytest.mark.parametrize("size_name", list(SIZES))
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_file_matches_reference(corpus: Corpus, config: Config, size_name: str) -> None:
    path = corpus.files[size_name]
    expected = corpus.reference(config)[path]
    ours = import_file(path, config.options)
    assert str(ours.cid) == expected
    assert ours.filesize == SIZES[size_name]
    assert str(import_path(path, config.options)[-1].cid) == expected


@pytest.mark.parametrize("tree_name", list(tree_specs()))
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_tree_matches_reference(corpus: Corpus, config: Config, tree_name: str) -> None:
    path = corpus.trees[tree_name]
    entries = import_path(path, config.options)
    assert str(entries[-1].cid) == corpus.reference(config)[path]
    assert entries[-1].is_dir
    # Children come before their directory, and every entry is named once.
    names = [e.path for e in entries]
    assert len(names) == len(set(names))
    assert names[-1] == path.name


@pytest.mark.parametrize("workers", [1, 2, 4])
@pytest.mark.parametrize("config", CONFIGS[:2], ids=CONFIG_IDS[:2])
def test_worker_count_does_not_change_the_cid(corpus: Corpus, config: Config, workers: int) -> None:
    path = corpus.files[BIG]
    options = ImportOptions(
        cid_version=config.options.cid_version,
        raw_leaves=config.options.raw_leaves,
        workers=workers,
    )
    assert options.worker_count == workers
    assert str(import_file(path, options).cid) == corpus.reference(config)[path]


@pytest.mark.parametrize("size_name", list(SIZES))
@pytest.mark.parametrize("config", CONFIGS[:2], ids=CONFIG_IDS[:2])
def test_stream_with_short_reads_matches_file(
    corpus: Corpus, config: Config, size_name: str
) -> None:
    path = corpus.files[size_name]
    data = path.read_bytes()
    stream = ShortReads(data, seed=len(data))
    entry = import_stream(cast(BinaryIO, stream), config.options)
    assert str(entry.cid) == corpus.reference(config)[path]
    assert entry.cid == import_file(path, config.options).cid
    assert entry.filesize == len(data)
    if len(data) > 70_000:
        assert stream.reads > len(data) // 70_000  # the reads really were short


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_stream_worker_counts_agree(corpus: Corpus, workers: int) -> None:
    path = corpus.files[BIG]
    with path.open("rb") as f:
        entry = import_stream(cast(BinaryIO, f), ImportOptions(workers=workers))
    assert str(entry.cid) == corpus.reference(CONFIGS[0])[path]


def test_progress_reports_every_byte_once(corpus: Corpus) -> None:
    seen: list[int] = []
    path = corpus.files[BIG]
    import_file(path, ImportOptions(workers=2), progress=seen.append)
    assert sum(seen) == SIZES[BIG]


class MemorySink:
    def __init__(self) -> None:
        self.blocks: dict[bytes, bytes] = {}

    def put_block(self, cid: Cid, data: bytes) -> None:
        assert cid.matches(data)
        self.blocks[cid.multihash] = bytes(data)

    def get(self, cid: Cid) -> bytes:
        return self.blocks[cid.multihash]


@pytest.mark.parametrize("via", ["file", "stream"])
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_stored_blocks_rebuild_the_file(corpus: Corpus, config: Config, via: str) -> None:
    sink = MemorySink()
    path = corpus.files[BIG]
    if via == "file":
        entry = import_file(path, config.options, sink=sink)
    else:
        with path.open("rb") as f:
            entry = import_stream(cast(BinaryIO, f), config.options, sink=sink)
    assert str(entry.cid) == corpus.reference(config)[path]
    chunks = -(-SIZES[BIG] // CHUNK_SIZE)
    # One leaf per chunk (the last holds 1 byte), two level-1 nodes and the root.
    assert len(sink.blocks) == chunks + 2 + 1
    assert {c.multihash for c, _ in walk_dag(entry.cid, sink.get)} == set(sink.blocks)
    assert b"".join(read_file(sink.get, entry.cid)) == path.read_bytes()
    assert entry.tsize == sum(len(b) for b in sink.blocks.values())


def test_hidden_files_are_skipped_unless_asked(tmp_path: Path, corpus: Corpus) -> None:
    with_dotfile = tmp_path / "with"
    without = tmp_path / "without"
    write_tree(with_dotfile, {"shown": b"1", ".hidden": b"2", ".dir": {"x": b"3"}})
    write_tree(without, {"shown": b"1"})
    reference = run_kubo_reference(("--cid-version", "0"), [with_dotfile, without])
    assert str(import_path(with_dotfile)[-1].cid) == reference[1]
    assert str(import_path(with_dotfile, ImportOptions(hidden=True))[-1].cid) == reference[0]
    assert reference[0] != reference[1]


# ---- HAMT threshold ------------------------------------------------------------------------------

# The threshold, taken from Kubo's importer and not from the module under test: boxo,
# ipld/unixfs/io/directory.go, `var HAMTShardingSize = int(256 * units.KiB)`, with "directory
# converts to HAMT when estimatedSize > HAMTShardingSize. A directory exactly at the threshold
# stays basic" (estimate: sum of link name bytes + CID bytes, SizeEstimationLinks, the default).
KUBO_HAMT_THRESHOLD = 256 * 1024


def test_the_threshold_is_kubos() -> None:
    from ledger.ipfs.unixfs import HAMT_THRESHOLD

    assert HAMT_THRESHOLD == KUBO_HAMT_THRESHOLD


def hamt_name_lengths(total: int, cid_len: int) -> list[int]:
    """Name lengths (1..255 bytes) whose links estimate to exactly ``total`` bytes."""
    lengths: list[int] = []
    rest = total
    while rest > 2 * (255 + cid_len):
        lengths.append(255)
        rest -= 255 + cid_len
    first = (rest - 2 * cid_len) // 2
    lengths += [first, rest - 2 * cid_len - first]
    assert all(4 <= n <= 255 for n in lengths)
    assert sum(n + cid_len for n in lengths) == total
    return lengths


def make_wide_dir(path: Path, estimate: int, cid_len: int) -> int:
    """A folder of empty files whose link-size estimate is ``estimate``; its entry count."""
    path.mkdir(parents=True)
    lengths = hamt_name_lengths(estimate, cid_len)
    for i, n in enumerate(lengths):
        (path / (f"{i:04d}" + "n" * (n - 4))).write_bytes(b"")
    return len(lengths)


@pytest.mark.parametrize("config", CONFIGS[:2], ids=CONFIG_IDS[:2])
def test_directory_exactly_at_the_threshold_is_one_flat_node(
    tmp_path: Path, config: Config
) -> None:
    cid_len = len(bytes(import_bytes(b"", config.options).cid))
    folder = tmp_path / "wide"
    make_wide_dir(folder, KUBO_HAMT_THRESHOLD, cid_len)
    entries = import_path(folder, config.options)
    assert str(entries[-1].cid) == run_kubo_reference(config.flags, [folder])[0]


@pytest.mark.parametrize("config", CONFIGS[:2], ids=CONFIG_IDS[:2])
def test_directory_above_threshold_needs_sharding(tmp_path: Path, config: Config) -> None:
    cid_len = len(bytes(import_bytes(b"", config.options).cid))
    folder = tmp_path / "top" / "wide"
    (tmp_path / "top" / "small").mkdir(parents=True)
    count = make_wide_dir(folder, KUBO_HAMT_THRESHOLD + 1, cid_len)
    with pytest.raises(ShardingRequired) as info:
        import_path(tmp_path / "top", config.options)
    message = str(info.value)
    assert "shard" in message.lower()
    assert str(folder) in message  # names the folder that is too wide, not the root
    assert f"{count} entries" in message
    assert str(KUBO_HAMT_THRESHOLD + 1) in message
    assert info.value.hint  # says what to do


def test_sharding_error_counts_utf8_bytes_not_characters(tmp_path: Path) -> None:
    """Two-byte characters: the same character count is over the threshold only in bytes."""
    cid_len = len(bytes(import_bytes(b"").cid))
    folder = tmp_path / "wide"
    folder.mkdir()
    name_chars, name_bytes = 4 + 118, 4 + 2 * 118  # "0001" + 118 × "é"
    count = KUBO_HAMT_THRESHOLD // (name_bytes + cid_len) + 1
    assert count * (name_chars + cid_len) <= KUBO_HAMT_THRESHOLD < count * (name_bytes + cid_len)
    for i in range(count):
        (folder / (f"{i:04d}" + "é" * 118)).write_bytes(b"")
    with pytest.raises(ShardingRequired):
        import_path(folder)
