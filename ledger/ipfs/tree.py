"""``ipfs add -r`` of streamed files: named files and folders, assembled into a directory tree.

An upload arrives as a flat sequence of named parts (``a/b/c.txt``, a folder ``a/d``, or an
unnamed file). :class:`AddTree` imports each file as it arrives, checks every name, and at
the end builds the directory nodes bottom up, returning the entries in Kubo's output order
(files in arrival order, then directories, innermost first) and the roots to pin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO

from ledger.errors import UsageError
from ledger.ipfs.files import check_name
from ledger.ipfs.unixfs import (
    BlockSink,
    ImportedEntry,
    ImportOptions,
    import_directory,
    import_stream,
)

__all__ = ["AddTree"]


@dataclass(slots=True)
class _Folder:
    entries: dict[str, _Folder | ImportedEntry] = field(default_factory=dict)


class AddTree:
    """Files and directories of one upload, assembled as ``ipfs add -r`` would."""

    def __init__(self, options: ImportOptions, sink: BlockSink | None) -> None:
        self._options = options
        self._sink = sink
        self._top = _Folder()
        self.files: list[ImportedEntry] = []

    @property
    def empty(self) -> bool:
        return not self._top.entries

    def _split(self, name: str) -> list[str]:
        segments = name.split("/")
        for segment in segments:
            check_name(segment)  # no "", ".", "..", backslash, NUL or over-long names
        return segments

    def _folder(self, segments: list[str]) -> _Folder:
        folder = self._top
        for depth, segment in enumerate(segments):
            child = folder.entries.setdefault(segment, _Folder())
            if not isinstance(child, _Folder):
                where = "/".join(segments[: depth + 1])
                raise UsageError(f"{where!r} was sent as a file and is used as a directory")
            folder = child
        return folder

    def add_directory(self, name: str) -> None:
        self._folder(self._split(name))

    def add_file(self, name: str, stream: BinaryIO) -> None:
        if name:
            segments = self._split(name)
            parent = self._folder(segments[:-1])
            leaf = segments[-1]
            if leaf in parent.entries:
                raise UsageError(f"{name!r} was sent twice")
            entry = import_stream(stream, self._options, self._sink)
        else:  # an unnamed upload is named by its CID, as Kubo names what it reads from stdin
            entry = import_stream(stream, self._options, self._sink)
            parent, leaf = self._top, str(entry.cid)
            name = leaf
            if leaf in parent.entries:
                raise UsageError(f"the same unnamed content was sent twice ({leaf})")
        placed = ImportedEntry(name, entry.cid, entry.tsize, entry.filesize)
        parent.entries[leaf] = placed
        self.files.append(placed)

    def finish(self, wrap: bool) -> tuple[list[ImportedEntry], list[ImportedEntry]]:
        """(every entry in Kubo's output order, the roots to pin)."""
        directories: list[ImportedEntry] = []

        def build(path: str, folder: _Folder) -> ImportedEntry:
            children = []
            for name in sorted(folder.entries):
                child = folder.entries[name]
                if isinstance(child, _Folder):
                    children.append((name, build(f"{path}/{name}", child)))
                else:
                    children.append((name, child))
            entry = import_directory(path, children, self._options, self._sink)
            directories.append(entry)
            return entry

        top: list[tuple[str, ImportedEntry]] = []
        for name, child in self._top.entries.items():
            top.append((name, build(name, child) if isinstance(child, _Folder) else child))
        if wrap:
            wrapper = import_directory("", top, self._options, self._sink)
            directories.append(wrapper)
            return [*self.files, *directories], [wrapper]
        return [*self.files, *directories], [entry for _, entry in top]
