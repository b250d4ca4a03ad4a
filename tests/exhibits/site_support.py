"""Hand-built shown items and a small HTML reader for the site renderer's tests.

``exhibited(...)`` makes an :class:`~exhibits.model.Exhibited` from small bytes and a
description document, with terms parsed from :func:`tests.rights_support.public_terms`
(``parse_terms``, the real parser). ``render(...)`` runs :func:`render_site` with trivial
stand-ins for the gallery layout, proofs and asset copier (owned by other slices, stubs until
they land; the stand-ins are passed as the keyword arguments render_site offers for it).

``parse_html`` builds a tree with the standard library's :class:`html.parser.HTMLParser` and
fails on any end tag that does not close the open element, so a test also sees that a page is
well formed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from exhibits.derive.records import DerivedFile
from exhibits.layout import GalleryEntry
from exhibits.model import (
    Candidate,
    ChainRef,
    Exhibited,
    ItemFiles,
    Kind,
    Lineage,
    RoomPlan,
    Shown,
)
from exhibits.site.render import render_site
from exhibits.spec import ExhibitSpec, parse_spec
from ledger.rights.claims import ClaimTerms
from ledger.rights.description import description_from_json
from ledger.rights.model import parse_terms
from ledger.rights.policy import DisplayDecision
from tests.rights_support import public_terms

__all__ = [
    "BUILT_AT",
    "CHAIN",
    "COMMUNITY",
    "Node",
    "exhibited",
    "files_for",
    "parse_html",
    "render",
    "spec_of",
]

COMMUNITY = bytes.fromhex("11" * 32)
CHAIN = ChainRef(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
BUILT_AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
VOID = {"meta", "link", "input", "img", "br", "hr", "source", "track", "area", "base", "col", "wbr"}


def spec_of(
    languages: Sequence[str] = ("en",),
    *,
    title: str = "Voices of the Reef",
    theme: str = "gallery",
    base_url: str | None = None,
    scene_viewer: bool = False,
) -> ExhibitSpec:
    """A parsed spec (through the real TOML parser)."""
    lines = [
        f"title = {json.dumps(title)}",
        f"languages = {json.dumps(list(languages))}",
        f'theme = "{theme}"',
    ]
    if base_url is not None:
        lines.append(f"base_url = {json.dumps(base_url)}")
    lines += ["[select]", 'communities = ["Reef People"]']
    if scene_viewer:
        lines += ["[ar]", "scene_viewer = true"]
    return parse_spec("\n".join(lines) + "\n")


def files_for(kind: Kind, seed: bytes = b"") -> tuple[DerivedFile, ...]:
    """Small derived files of one kind (bytes stand in for the real encodings)."""
    if kind == "model":
        return (
            DerivedFile.of("model.glb", "model/gltf-binary", b"glTF" + seed),
            DerivedFile.of("poster.png", "image/png", b"\x89PNG" + seed, width=640, height=480),
        )
    if kind == "image":
        return (
            DerivedFile.of("image.jpg", "image/jpeg", b"\xff\xd8" + seed, width=1200, height=800),
            DerivedFile.of(
                "thumbnail.jpg", "image/jpeg", b"\xff\xd8t" + seed, width=400, height=267
            ),
        )
    if kind in ("audio", "video"):
        ext = "m4a" if kind == "audio" else "mp4"
        return (
            DerivedFile.of(f"{kind}.{ext}", f"{kind}/mp4", b"ftyp" + seed),
            DerivedFile.of("poster.png", "image/png", b"\x89PNG" + seed, width=640, height=360),
        )
    return (DerivedFile.of("poster.png", "image/png", b"\x89PNG" + seed, width=600, height=800),)


def exhibited(
    number: int,
    *,
    kind: Kind = "image",
    description: dict[str, Any] | None = None,
    terms: dict[str, Any] | None = None,
    file_name: str | None = None,
    lineage: tuple[Lineage, ...] = (),
    community_name: str | None = "Reef People",
    files: tuple[DerivedFile, ...] | None = None,
) -> Exhibited:
    """Shown item number ``number`` (its key is ``number`` repeated as bytes)."""
    key = bytes([number]) * 32
    seed = f"item {number}".encode()
    derived = files_for(kind, seed) if files is None else files
    document = public_terms(COMMUNITY) if terms is None else terms
    parsed_terms = parse_terms(document)
    described = None
    if description is not None:
        described = description_from_json(
            {"type": "heritage/description", "version": 1, **description}
        )
    candidate = Candidate(
        key=key,
        cid=DerivedFile.of("master", "application/octet-stream", b"master " + seed).cid,
        community=COMMUNITY,
        community_name=community_name,
        kind="derivative" if lineage else "item",
        file_name=file_name or f"master-{number}.bin",
        media_type="application/octet-stream",
        size=100 + number,
        description=described,
        description_version=1 if described is not None else 0,
        terms=parsed_terms,
        terms_cid=parsed_terms.cid,
        terms_version=1,
        revoked=False,
        claims=(ClaimTerms(key, COMMUNITY, parsed_terms, False),),
        registered_at=datetime(2026, 11, 1, 9, 30, number % 60, tzinfo=UTC),
        block=10 + number,
        transaction="0x" + bytes([number, 0xAB] * 16).hex(),
        lineage=lineage,
    )
    return Exhibited(Shown(candidate, DisplayDecision(True, ())), ItemFiles(kind, derived, ()))


def _gallery(
    title: str, theme: str, rooms: Sequence[RoomPlan], entries: Sequence[GalleryEntry]
) -> dict[str, Any]:
    # Stand-in for exhibits.layout.gallery_document (the front slice's; a stub until it lands):
    # it keeps what the renderer handed over, so tests can check the entries.
    return {
        "title": title,
        "theme": theme,
        "entries": [
            {
                "id": e.item_id,
                "kind": e.kind,
                "title": e.title,
                "href": e.href,
                "model": e.model,
                "image": e.image,
                "media": e.media,
                "width": e.width,
                "height": e.height,
            }
            for e in entries
        ],
    }


def _proofs(chain: ChainRef, items: Sequence[Exhibited], *, built_at: datetime) -> dict[str, Any]:
    # Stand-in for exhibits.proofs.proofs_document (the media slice's; a stub until it lands).
    return {"chain_id": chain.chain_id, "items": [e.item_id for e in items]}


def _assets(out: Path) -> list[str]:
    # Stand-in for exhibits.site.assets.copy_assets (the front slice's; a stub until it lands):
    # writes an empty file at each path the pages reference, so links can be checked.
    paths = [
        "assets/vendor/three/three.module.js",
        "assets/vendor/model-viewer/model-viewer.min.js",
        *(f"assets/app/{name}.js" for name in ("gallery", "item", "verify", "search", "mv-config")),
    ]
    for path in paths:
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        (out / path).write_bytes(b"")
    return paths


def render(
    out: Path,
    items: Sequence[Exhibited],
    spec: ExhibitSpec | None = None,
    rooms: Sequence[RoomPlan] = (),
) -> Path:
    """Render ``items`` into ``out`` (created) with the stand-ins above; returns ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    render_site(
        spec or spec_of(),
        rooms,
        items,
        CHAIN,
        out,
        built_at=BUILT_AT,
        gallery=_gallery,
        proofs=_proofs,
        assets=_assets,
    )
    return out


# ---- a small DOM -----------------------------------------------------------------------------


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    parent: Node | None = None
    children: list[Node | str] = field(default_factory=list)
    attr_list: list[tuple[str, str | None]] = field(default_factory=list)

    def iter(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def find_all(self, tag: str) -> list[Node]:
        return [n for n in self.iter() if n.tag == tag]

    def by_id(self, identifier: str) -> Node:
        found = [n for n in self.iter() if n.attrs.get("id") == identifier]
        assert len(found) == 1, f"{len(found)} elements with id {identifier!r}"
        return found[0]

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def ancestors(self) -> Iterator[Node]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.current = self.root
        self.doctype: str | None = None

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = [name for name, _ in attrs]
        assert len(names) == len(set(names)), f"<{tag}> repeats an attribute: {names}"
        node = Node(tag, dict(attrs), self.current, attr_list=list(attrs))
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        assert tag not in VOID, f"end tag of the void element {tag}"
        assert self.current.tag == tag, f"</{tag}> closes <{self.current.tag}>"
        assert self.current.parent is not None
        self.current = self.current.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)

    def handle_comment(self, data: str) -> None:
        raise AssertionError(f"a comment in the page: {data[:80]!r}")


def parse_html(data: bytes) -> Node:
    """The page as a tree (asserting it is well formed and starts with a doctype)."""
    builder = _TreeBuilder()
    builder.feed(data.decode("utf-8"))
    builder.close()
    assert builder.current is builder.root, f"<{builder.current.tag}> is never closed"
    assert builder.doctype is not None and builder.doctype.lower() == "doctype html"
    return builder.root
