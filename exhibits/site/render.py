"""Rendering an exhibit site from the allowed set only.

:func:`render_site` is the render stage of ``heritage exhibit build``. It builds the typed
context (:func:`exhibits.site.context.site_context`) from the spec and the shown items, and
everything it writes comes from that context: the pages through ONE jinja2 environment
(templates from this package, autoescape on for every template, undefined names an error, no
extensions), the data files as sorted JSON. Templates are fed the context and query nothing.

Item text is never template source (it is only ever a value printed into our templates), so
template syntax in a title stays text; it is escaped on output (HTML by autoescape, JSON in a
``<script>`` by :func:`exhibits.site.jsonld.script_json`).

The stages other slices own are reached through keyword arguments whose defaults are the real
ones: ``gallery`` (:func:`exhibits.layout.gallery_document`), ``proofs``
(:func:`exhibits.proofs.proofs_document`) and ``assets``
(:func:`exhibits.site.assets.copy_assets`), so the renderer can be tested on its own while they
are being written, without patching anything.

Files (paths relative to the root): ``index.html``, ``items/<id>/index.html``,
``items/<id>/files/<name>``, ``gallery.json``, ``search.json``, ``proofs.json``,
``favicon.svg``, ``robots.txt``, ``assets/site.css``, the assets of ``copy_assets``, and with
the spec's ``base_url`` also ``sitemap.xml``, ``iiif/collection.json`` and
``iiif/<id>/manifest.json`` (absolute URLs need a base; see :mod:`exhibits.site.sitemap`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Final, Protocol

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from exhibits.layout import GalleryEntry, gallery_document
from exhibits.model import ChainRef, Exhibited, RoomPlan
from exhibits.proofs import proofs_document
from exhibits.site import assets as site_assets
from exhibits.site.context import ItemContext, SiteContext, site_context
from exhibits.site.csp import csp_policy
from exhibits.site.iiif import iiif_documents
from exhibits.site.jsonld import index_jsonld, item_jsonld, script_json
from exhibits.site.search import search_document
from exhibits.site.sitemap import robots_txt, sitemap_xml
from exhibits.spec import ExhibitSpec
from ledger.errors import UsageError

__all__ = [
    "IMPORT_MAP",
    "KIND_NAMES",
    "AssetCopier",
    "GalleryWriter",
    "Page",
    "ProofsWriter",
    "gallery_entries",
    "json_bytes",
    "render_site",
    "site_environment",
    "site_files",
]

#: The index page's import map (its exact text is hashed into the page's CSP).
IMPORT_MAP: Final = (
    '{"imports":{"three":"./assets/vendor/three/three.module.js",'
    '"three/addons/":"./assets/vendor/three/addons/"}}'
)
#: What each kind is called on the pages.
KIND_NAMES: Final = {
    "model": "3D model",
    "image": "Image",
    "audio": "Sound recording",
    "video": "Video",
    "other": "Document",
}

GalleryWriter = Callable[[str, str, Sequence[RoomPlan], Sequence[GalleryEntry]], dict[str, Any]]
AssetCopier = Callable[[Path], list[str]]


class ProofsWriter(Protocol):
    def __call__(
        self, chain: ChainRef, items: Sequence[Exhibited], *, built_at: datetime
    ) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Page:
    """What a page's frame needs besides the site: its language, title, the way back to the
    root, its CSP, its JSON-LD and (index) import map."""

    lang: str
    title: str
    description: str | None
    root: str  # "" on the index, "../../" on item pages
    csp: str
    jsonld: Markup
    importmap: Markup | None = None
    manifest: str | None = None  # the IIIF manifest's path, relative to the root


@functools.cache
def site_environment() -> Environment:
    """The one environment: this package's templates, every one autoescaped, strict. Made
    once per process and shared by every build (its templates are compiled once and kept:
    ``auto_reload`` is off, they are files of this package)."""
    return Environment(
        loader=PackageLoader("exhibits.site", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
        keep_trailing_newline=True,
        auto_reload=False,
    )


def json_bytes(value: Any) -> bytes:
    """A data file: UTF-8 JSON, keys sorted, one trailing newline (deterministic)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return (text + "\n").encode("utf-8")


def gallery_entries(site: SiteContext) -> list[GalleryEntry]:
    """What the gallery needs of each shown item, in exhibit order."""
    entries = []
    for item in site.items:
        model = item.file("model")
        picture = item.picture
        media = item.media
        entries.append(
            GalleryEntry(
                item_id=item.id,
                kind=item.kind,
                title=item.text.title,
                href=item.href,
                model=model.path if model is not None else None,
                image=picture.path if picture is not None else None,
                media=media.path if media is not None else None,
                width=(picture.width or 1) if picture is not None else 1,
                height=(picture.height or 1) if picture is not None else 1,
            )
        )
    return entries


def _index_page(env: Environment, site: SiteContext, styles: Sequence[str]) -> bytes:
    page = Page(
        lang=site.default_language,
        title=site.title,
        description=None,
        root="",
        csp=csp_policy([IMPORT_MAP], styles),
        jsonld=script_json(index_jsonld(site)),
        importmap=Markup(IMPORT_MAP),  # noqa: S704 (a constant of this module)
    )
    html = env.get_template("index.html").render(site=site, page=page, kind_names=KIND_NAMES)
    return html.encode("utf-8")


def _item_page(
    env: Environment,
    site: SiteContext,
    item: ItemContext,
    styles: Sequence[str],
    manifest: str | None,
) -> bytes:
    text = item.text
    page = Page(
        lang=site.default_language,
        title=f"{text.title} · {site.title}",
        description=text.description.split("\n", 1)[0][:300] if text.description else None,
        root="../../",
        csp=csp_policy([], styles),
        jsonld=script_json(item_jsonld(site, item)),
        manifest=manifest,
    )
    html = env.get_template("item.html").render(
        site=site, item=item, page=page, kind_names=KIND_NAMES
    )
    return html.encode("utf-8")


def _static(name: str) -> bytes:
    return resources.files("exhibits.site").joinpath("static", name).read_bytes()


def site_files(
    spec: ExhibitSpec,
    rooms: Sequence[RoomPlan],
    items: Sequence[Exhibited],
    chain: ChainRef,
    *,
    built_at: datetime,
    gallery: GalleryWriter = gallery_document,
    proofs: ProofsWriter = proofs_document,
    style_hashes: Sequence[str] | None = None,
) -> dict[str, bytes]:
    """Every file of the site but the vendored assets, by path relative to the root (pure:
    the same arguments give the same bytes)."""
    site = site_context(spec, rooms, items, chain, built_at=built_at)
    styles = tuple(site_assets.VENDOR_STYLE_HASHES if style_hashes is None else style_hashes)
    env = site_environment()
    files: dict[str, bytes] = {}
    iiif = iiif_documents(site)
    files["index.html"] = _index_page(env, site, styles)
    for item in site.items:
        manifest = f"iiif/{item.id}/manifest.json"
        files[f"{item.href}index.html"] = _item_page(
            env, site, item, styles, manifest if manifest in iiif else None
        )
        for file in item.files:
            files[file.path] = file.data
    files.update({path: json_bytes(document) for path, document in iiif.items()})
    files["gallery.json"] = json_bytes(
        gallery(site.title, site.theme, list(rooms), gallery_entries(site))
    )
    files["search.json"] = json_bytes(search_document(site))
    files["proofs.json"] = json_bytes(proofs(chain, list(items), built_at=built_at))
    sitemap = sitemap_xml(site)
    if sitemap is not None:
        files["sitemap.xml"] = sitemap
    files["robots.txt"] = robots_txt(site)
    files["favicon.svg"] = _static("favicon.svg")
    files["assets/site.css"] = _static("site.css")
    return files


def render_site(
    spec: ExhibitSpec,
    rooms: Sequence[RoomPlan],
    items: Sequence[Exhibited],
    chain: ChainRef,
    out: Path,
    *,
    built_at: datetime,
    gallery: GalleryWriter = gallery_document,
    proofs: ProofsWriter = proofs_document,
    assets: AssetCopier = site_assets.copy_assets,
) -> None:
    """Write the whole site for ``items`` (in exhibit order) into the empty folder ``out``:
    pages, derived files, gallery.json, search index, IIIF, JSON-LD, sitemap, proofs.json and
    the vendored assets. Deterministic: the same arguments give the same bytes."""
    if not out.is_dir():
        raise UsageError(f"{out} is not a folder", hint="create the output folder first")
    if any(out.iterdir()):
        raise UsageError(
            f"{out} is not empty", hint="render into an empty folder, so nothing stale is served"
        )
    files = site_files(spec, rooms, items, chain, built_at=built_at, gallery=gallery, proofs=proofs)
    for path in sorted(files):
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[path])
    assets(out)
