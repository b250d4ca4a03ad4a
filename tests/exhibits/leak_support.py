"""Canaried collections for the leak tests: items of every rights category, each excluded one
carrying a unique canary token in everything it has, and masters whose embedded metadata
(EXIF, XMP, PNG text, glTF extras and node names, recording tags) carries canaries even for the
shown items.

The test's own oracle lives here too: :data:`ALLOWED` says, per category, whether an item may
be shown, from what the category means (docs/display-policy.md), not from
:func:`ledger.rights.claims.decide_content`. And an independent reader of a built site:
:func:`site_blobs` yields every file's bytes and every gzip/zip member's, and
:func:`token_forms` the byte forms of a token searched without the leak scan's help.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import random
import re
import urllib.parse
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from PIL import Image, PngImagePlugin

from exhibits.derive.records import file_cid
from exhibits.model import Candidate, Kind, Lineage
from ledger.errors import HeritageError
from ledger.ipfs.cid import Cid
from ledger.rights.claims import ClaimTerms
from ledger.rights.description import description_from_json
from ledger.rights.model import Terms, parse_terms
from tests.rights_support import public_terms, restricted_terms

__all__ = [
    "ALLOWED",
    "AT",
    "CATEGORIES",
    "REEF",
    "RIVAL",
    "Item",
    "canaried_glb",
    "canaried_image",
    "make_item",
    "site_blobs",
    "terms_for",
    "token_forms",
]

#: The moment every collection is decided at: 1 December 2026, noon UTC.
AT: Final = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
REEF: Final = bytes.fromhex("5e" * 32)
RIVAL: Final = bytes.fromhex("a7" * 32)

#: Every category the generator makes, and the oracle: may an item of it be shown at AT?
#: Written from what each category means, independently of the policy code.
ALLOWED: Final = {
    "cc-by": True,  # CC BY 4.0, public access, an attribution label
    "cc0": True,  # CC0 1.0
    "rights-statement-nkc": True,  # no license; "No Known Copyright" rights statement
    "rights-statement-inc-nc": True,  # in copyright, non-commercial use allowed
    "in-season": True,  # TK Seasonal, inside its season at AT
    "derivative": True,  # a public derivative of another item of the collection
    "sealed": False,  # TK Secret/Sacred, community access: registered sealed, nothing readable
    "restricted": False,  # access protocol "restricted"
    "community-only": False,  # access protocol "community", TK Community Use Only
    "terms-missing": False,  # no terms document at hand
    "terms-malformed": False,  # a terms document that does not parse
    "embargoed": False,  # embargoed until after AT
    "expired": False,  # display expired before AT
    "out-of-season": False,  # TK Seasonal, outside its season at AT
    "revoked": False,  # the claim's terms revoked
    "parent-revoked": False,  # a derivative whose parent claim is revoked
    "disputed": False,  # the same content claimed by a second community
    "several-protocols": False,  # access public AND community: every protocol must allow
    "in-copyright": False,  # rights statement InC, no grant
    "secret-label": False,  # public access and CC BY, but TK Secret/Sacred
}
CATEGORIES: Final = tuple(ALLOWED)
_RS: Final = "http://rightsstatements.org/vocab/{}/1.0/"


def terms_for(category: str, community: bytes = REEF) -> dict[str, Any] | None:
    """The terms document of a category (None: missing or malformed, see :func:`make_item`)."""
    seasons = {"time_zone": "UTC", "seasons": [{"from": "11-15", "to": "12-15"}]}
    off_season = {"time_zone": "UTC", "seasons": [{"from": "06-01", "to": "08-31"}]}
    by_category: dict[str, dict[str, Any] | None] = {
        "cc0": public_terms(community, license="CC0-1.0"),
        "rights-statement-nkc": public_terms(
            community, license=None, rights_statement=_RS.format("NKC")
        ),
        "rights-statement-inc-nc": public_terms(
            community, license=None, rights_statement=_RS.format("InC-NC")
        ),
        "in-season": public_terms(community, labels=["tk:seasonal"], display=seasons),
        "out-of-season": public_terms(community, labels=["tk:seasonal"], display=off_season),
        "sealed": public_terms(
            community,
            license=None,
            rights_statement=_RS.format("InC"),
            labels=["tk:secret-sacred"],
            access=[{"protocol": "community"}],
            location={"precision": "hidden"},
        ),
        "restricted": public_terms(
            community,
            access=[{"protocol": "restricted", "groups": [{"kind": "clan", "name": "Keepers"}]}],
        ),
        "community-only": restricted_terms(community),
        "embargoed": public_terms(
            community, display={"time_zone": "UTC", "embargo_until": "2027-01-01T00:00:00Z"}
        ),
        "expired": public_terms(
            community, display={"time_zone": "UTC", "expires": "2026-11-30T00:00:00Z"}
        ),
        "several-protocols": public_terms(
            community, access=[{"protocol": "public"}, {"protocol": "community"}]
        ),
        "in-copyright": public_terms(community, license=None, rights_statement=_RS.format("InC")),
        "secret-label": public_terms(community, labels=["tk:secret-sacred"]),
        "terms-missing": None,
        "terms-malformed": None,
    }
    return by_category.get(category, public_terms(community))


#: Malformed terms documents: each must fail the real parser (the generator checks it does).
MALFORMED: Final = (
    b"",
    b"{",
    b'{"type": "heritage/terms", "version": 1}',
    b'{"type": "heritage/terms", "version": 1, "license": "CC-BY-4.0", "licence": 1}',
    b"\xff\xfe not json",
    b"[1, 2, 3]",
)


def canaried_image(token: str, rng: random.Random, fmt: str) -> bytes:
    """A small image whose embedded metadata carries ``token``: EXIF ImageDescription, Artist,
    UserComment (Exif IFD) and XMP; in PNG also tEXt/iTXt chunks."""
    size = (rng.randint(8, 24), rng.randint(8, 24))
    image = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    exif = Image.Exif()
    exif[0x010E] = f"ImageDescription {token}"  # ImageDescription
    exif[0x013B] = f"Artist {token}"  # Artist
    exif.get_ifd(0x8769)[0x9286] = b"ASCII\x00\x00\x00UserComment " + token.encode()
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        '22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" '
        f'dc:title="XMP {token}"/></rdf:RDF></x:xmpmeta>'
    ).encode()
    out = io.BytesIO()
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Title", f"PNG text {token}")
        info.add_itxt("XML:com.adobe.xmp", xmp.decode())
        image.save(out, "PNG", pnginfo=info, exif=exif)
    else:
        image.save(out, "JPEG", exif=exif, xmp=xmp, quality=80)
    data = out.getvalue()
    assert token.encode() in data
    return data


def _other_master(token: str, rng: random.Random) -> bytes:
    """A document of no showable kind (a PDF-like text) naming ``token`` in its body and in
    its info dictionary."""
    noise = rng.randbytes(8).hex()
    body = f"1 0 obj << /Title ({token}) /Author ({token}) >> endobj"
    return f"%PDF-1.4\n% {noise}\n{body}\n%%EOF\n".encode()


@dataclass
class Item:
    """One generated item: its candidate, its master, its category and canaries."""

    category: str
    kind: Kind
    candidate: Candidate
    master: bytes
    token: str  # the item's canary (in its texts only when it is excluded)
    master_tokens: tuple[str, ...]  # canaries inside the master's embedded metadata
    texts: tuple[str, ...] = ()  # every text of its description and its file name
    rival: bool = False  # the second community's claim on disputed content

    @property
    def allowed(self) -> bool:
        return ALLOWED[self.category]


def _description(token: str, canaried: bool, number: int) -> dict[str, Any]:
    if not canaried:
        # A shown item's own words: public, so no canary (they are meant to be in the site).
        return {"title": {"en": f"Kete number {number}", "mi": f"Kete tau {number}"},
                "description": {"en": "Woven flax, open to all."},
                "subjects": ["weaving"], "date": "1950s"}  # fmt: skip
    return {
        "type": "heritage/description",
        "version": 1,
        "title": {"en": f"Ngā “{token}” <b>{token}</b>", "mi": f"Te {token} o te Pō"},
        "description": {"en": f"Not for display: {token}.\n\nSecond paragraph {token} & more."},
        "alt_text": {"en": f"Alt {token}"},
        "context": {"en": f"Context {token}"},
        "transcript": {"en": f"Transcript {token}"},
        "creator": f"Creator {token}",
        "date": f"1897 {token}",
        "subjects": [f"Subject {token}", "weaving"],
        "place": {"name": f"Place {token}", "lat": -36.8485, "lon": 174.7633},
    }


def make_item(
    number: int,
    category: str,
    kind: Kind,
    rng: random.Random,
    *,
    master: bytes | None = None,
    master_tokens: tuple[str, ...] = (),
    parent: Item | None = None,
    community: bytes = REEF,
    rival_of: Item | None = None,
) -> Item:
    """Item ``number`` of ``category``: a candidate as gather makes one (a sealed item has no
    description and no file name), with a master of ``kind``. ``master`` (with the canaries
    inside it) is given for shown recordings from a pool; other masters are made here."""
    token = f"cnry{number:03d}x{rng.getrandbits(64):016x}"
    excluded = not ALLOWED[category]
    if master is None:
        if kind == "image":
            master = canaried_image(token, rng, rng.choice(("PNG", "JPEG")))
        elif kind == "audio":
            master = _wav(token, rng)
        elif kind == "model":
            master = canaried_glb(token, rng)
        else:
            master = _other_master(token, rng)
        master_tokens = (token,)
    if rival_of is not None:
        master, master_tokens = rival_of.master, rival_of.master_tokens
    media_type = {"image": "image/png" if master.startswith(b"\x89PNG") else "image/jpeg",
                  "audio": "audio/wav" if master.startswith(b"RIFF") else "audio/flac",
                  "model": "model/gltf-binary",
                  "other": "application/pdf"}.get(kind, "application/octet-stream")  # fmt: skip
    if media_type == "audio/flac" and master.startswith(b"ID3"):
        media_type = "audio/mpeg"
    extension = {"image/png": "png", "image/jpeg": "jpg", "audio/wav": "wav",
                 "audio/flac": "flac", "audio/mpeg": "mp3", "application/pdf": "pdf",
                 "model/gltf-binary": "glb"}  # fmt: skip
    sealed = category == "sealed"
    file_name = (
        "" if sealed else f"{token if excluded else f'kete-{number}'}.{extension[media_type]}"
    )
    document = None if sealed else _description(token, excluded, number)
    description = None
    if document is not None:
        document.setdefault("type", "heritage/description")
        document.setdefault("version", 1)
        description = description_from_json(document)
    terms_document = terms_for(category, community)
    terms: Terms | None = None
    terms_cid: Cid | None = None
    if category == "terms-malformed":
        bad = rng.choice(MALFORMED)
        try:
            parse_terms(json.loads(bad))
        except (HeritageError, ValueError):
            pass  # as it must: gather then has no terms
        else:
            raise AssertionError(f"the malformed terms {bad!r} parse")
        terms_cid = file_cid(bad)
    elif terms_document is not None:
        terms = parse_terms(terms_document)
        terms_cid = terms.cid
    key = rng.randbytes(32)
    cid = file_cid(master)
    revoked = category == "revoked"
    parent_revoked = parent is not None and parent.category == "revoked"
    claim = ClaimTerms(key, community, terms, revoked, parent_revoked)
    lineage: tuple[Lineage, ...] = ()
    if parent is not None:
        lineage = (Lineage(parent.candidate.key, parent.candidate.cid,
                           {"method": f"restoration {token}" if excluded else "restoration"},
                           rng.random() < 0.5),)  # fmt: skip
    candidate = Candidate(
        key=key,
        cid=cid,
        community=community,
        community_name=None if sealed else ("Reef People" if community == REEF else "Hill"),
        kind="derivative" if parent is not None else rng.choice(("item", "batch-item")),
        file_name=file_name,
        media_type=media_type,
        size=len(master),
        description=description,
        description_version=0 if description is None else 1,
        terms=terms,
        terms_cid=terms_cid,
        terms_version=1 if terms_cid is not None else 0,
        revoked=revoked,
        claims=(claim,),
        registered_at=datetime(2026, 11, 1, 9, rng.randrange(60), tzinfo=UTC),
        block=100 + number,
        transaction="0x" + rng.randbytes(32).hex(),
        lineage=lineage,
        import_settings=None if sealed else {"cid_version": 1, "raw_leaves": True},
        sealed=sealed,
    )
    texts = tuple(_all_texts(document)) + ((file_name,) if file_name else ())
    return Item(category, kind, candidate, master, token, master_tokens, texts,
                rival=rival_of is not None)  # fmt: skip


def _all_texts(document: dict[str, Any] | None) -> Iterator[str]:
    if document is None:
        return
    for name, value in document.items():
        if name in ("type", "version"):
            continue
        if isinstance(value, dict):
            yield from (v for v in value.values() if isinstance(v, str))
        elif isinstance(value, list):
            yield from (v for v in value if isinstance(v, str))
        elif isinstance(value, str):
            yield value


def _wav(token: str, rng: random.Random) -> bytes:
    """A short PCM WAV with a LIST/INFO chunk (title, artist, comment) naming ``token``."""
    samples = rng.randbytes(800)
    fmt = (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (8000).to_bytes(4, "little")
    fmt += (16000).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")

    def chunk(kind: bytes, body: bytes) -> bytes:
        return kind + len(body).to_bytes(4, "little") + body + (b"\0" if len(body) % 2 else b"")

    info = b"INFO" + b"".join(
        chunk(tag, f"{tag.decode()} {token}".encode() + b"\0")
        for tag in (b"INAM", b"IART", b"ICMT")
    )
    body = b"WAVE" + chunk(b"fmt ", fmt) + chunk(b"LIST", info) + chunk(b"data", samples)
    return b"RIFF" + len(body).to_bytes(4, "little") + body


# ---- reading a built site without the scan ---------------------------------------------------


def site_blobs(root: Path) -> Iterator[tuple[str, bytes]]:
    """Every file of the site as (path, bytes), and the content of every gzip file and zip
    member as (``path!member``, bytes), nested ones too."""
    for path in sorted(root.rglob("*")):
        assert not path.is_symlink(), path
        if path.is_file():
            name = path.relative_to(root).as_posix()
            yield from _blob(name, path.read_bytes())


def _blob(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    yield name, data
    if data.startswith(b"\x1f\x8b"):
        yield from _blob(name + "!", gzip.decompress(data))
    elif data.startswith(b"PK\x03\x04"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                yield from _blob(f"{name}!{info.filename}", archive.read(info))


def _base64_cores(data: bytes) -> list[bytes]:
    """The base64 text of ``data`` wherever it starts in a longer byte string: for each of the
    three alignments, the characters that only ``data``'s bits decide."""
    cores = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data)
        first = -(-8 * shift // 6)  # the first character wholly inside data
        last = (8 * (shift + len(data))) // 6  # one past the last such character
        cores.append(encoded[first:last])
    return cores


def token_forms(token: str) -> dict[str, bytes]:
    """A canary token's byte forms, written here independently of exhibits.scan: UTF-8 (any
    ASCII case, searched lower-cased), UTF-16 (both byte orders), base64 and base64url (each
    alignment), percent-encoded."""
    raw = token.encode()
    forms = {
        "utf-8": raw.lower(),
        "utf-16-le": token.encode("utf-16-le"),
        "utf-16-be": token.encode("utf-16-be"),
        "url-encoded": urllib.parse.quote(token, safe="").encode(),
    }
    for i, core in enumerate(_base64_cores(raw)):
        forms[f"base64 ({i})"] = core
        forms[f"base64url ({i})"] = core.replace(b"+", b"-").replace(b"/", b"_")
    return forms


_ID: Final = re.compile(rb"0x[0-9a-f]{64}")


def ids_in(data: bytes) -> set[str]:
    """Every ``0x`` + 64 hex digits in ``data`` (item ids, community ids, transactions)."""
    return {m.group().decode() for m in _ID.finditer(data.lower())}


def json_ids(value: Any) -> set[str]:
    """Every string in a JSON value that holds an item-id-shaped text (``0x`` + 64 hex)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            found |= json_ids(k) | json_ids(v)
    elif isinstance(value, list):
        for v in value:
            found |= json_ids(v)
    elif isinstance(value, str):
        found |= ids_in(value.encode())
    return found


def canaried_glb(token: str, rng: random.Random) -> bytes:
    """A small GLB (a trimesh box of random size) whose glTF carries ``token`` in the asset's
    and the root's ``extras``, the node's and the mesh's names, and trimesh's metadata."""
    import trimesh

    box = trimesh.creation.box(extents=[rng.uniform(0.5, 2.0) for _ in range(3)])
    scene = trimesh.Scene()
    scene.add_geometry(box, node_name=f"node {token}", geom_name=f"mesh {token}")
    scene.metadata["canary"] = f"metadata {token}"
    data = scene.export(file_type="glb")  # type: ignore[no-untyped-call]
    assert isinstance(data, bytes)
    length = int.from_bytes(data[12:16], "little")
    tree = json.loads(data[20 : 20 + length])
    tree["extras"] = {"title": f"extras {token}"}
    tree.setdefault("asset", {})["extras"] = {"author": f"asset extras {token}"}
    for node in tree.get("nodes", []):
        node["name"] = f"node {token}"
        node["extras"] = {"note": f"node extras {token}"}
    rest = data[20 + length :]
    text = json.dumps(tree).encode()
    text += b" " * (-len(text) % 4)
    body = len(text).to_bytes(4, "little") + b"JSON" + text + rest
    glb = b"glTF" + (2).to_bytes(4, "little") + (12 + len(body)).to_bytes(4, "little") + body
    assert token.encode() in glb
    return glb
