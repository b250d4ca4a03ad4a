"""IIIF Presentation API 3.0 manifests for the image items, and a collection of them.

A manifest has one canvas the size of the display image, painted by that image (a static
file: no Image API service), with the item's title as ``label`` in each language it has,
its description as ``summary``, the attribution as ``requiredStatement``, the license or
rights statement as ``rights`` when it is one IIIF accepts (Creative Commons or
RightsStatements.org), and the item page as ``homepage``.

IIIF requires ``id`` to be an absolute HTTP(S) URI, so manifests are made only when the spec
gives ``base_url`` (:func:`iiif_documents` returns nothing otherwise). These ids, and the
``@context`` and rights URIs (identifiers, never fetched by the site), are the only absolute
URLs the site writes outside JSON-LD and the sitemap.
"""

from __future__ import annotations

import re
from typing import Any, Final

from exhibits.site.context import ItemContext, SiteContext

__all__ = ["PRESENTATION_CONTEXT", "cc_uri", "collection_document", "iiif_documents", "manifest"]

PRESENTATION_CONTEXT: Final = "http://iiif.io/api/presentation/3/context.json"
_CC: Final = re.compile(r"CC-((?:BY|NC|ND|SA)(?:-(?:NC|ND|SA))*)-([0-9]\.[0-9])(?:-([A-Za-z]+))?\Z")


def cc_uri(spdx_id: str) -> str | None:
    """The creativecommons.org URI of a Creative Commons SPDX id (``CC-BY-4.0`` →
    ``http://creativecommons.org/licenses/by/4.0/``), None for anything else."""
    if spdx_id == "CC0-1.0":
        return "http://creativecommons.org/publicdomain/zero/1.0/"
    match = _CC.match(spdx_id)
    if match is None:
        return None
    parts, version, jurisdiction = match.groups()
    tail = f"{jurisdiction.lower()}/" if jurisdiction else ""
    return f"http://creativecommons.org/licenses/{parts.lower()}/{version}/{tail}"


def _language_map(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    value: dict[str, list[str]] = {}
    for language, text in pairs:
        if text not in value.setdefault(language, []):
            value[language].append(text)
    return value


def _label(item: ItemContext) -> dict[str, list[str]]:
    return _language_map([(t.title_lang, t.title) for t in item.texts])


def _entry(label: str, value: str) -> dict[str, Any]:
    return {"label": {"en": [label]}, "value": {"none": [value]}}


def manifest(site: SiteContext, item: ItemContext, base: str) -> dict[str, Any] | None:
    """The manifest of an image item (None for other kinds, or without a display image)."""
    image = item.file("image")
    if item.kind != "image" or image is None or image.width is None or image.height is None:
        return None
    me = f"{base}iiif/{item.id}/manifest.json"
    canvas = f"{base}iiif/{item.id}/canvas/1"
    value: dict[str, Any] = {
        "@context": PRESENTATION_CONTEXT,
        "id": me,
        "type": "Manifest",
        "label": _label(item),
        "homepage": [
            {
                "id": base + item.href,
                "type": "Text",
                "label": _label(item),
                "format": "text/html",
            }
        ],
        "items": [
            {
                "id": canvas,
                "type": "Canvas",
                "width": image.width,
                "height": image.height,
                "items": [
                    {
                        "id": f"{canvas}/page/1",
                        "type": "AnnotationPage",
                        "items": [
                            {
                                "id": f"{canvas}/page/1/annotation/1",
                                "type": "Annotation",
                                "motivation": "painting",
                                "target": canvas,
                                "body": {
                                    "id": base + image.path,
                                    "type": "Image",
                                    "format": image.media_type,
                                    "width": image.width,
                                    "height": image.height,
                                },
                            }
                        ],
                    }
                ],
            }
        ],
    }
    summary = [(t.description_lang, t.description) for t in item.texts if t.description]
    if summary:
        value["summary"] = _language_map(summary)
    thumbnail = item.file("thumbnail")
    if thumbnail is not None:
        thumb: dict[str, Any] = {
            "id": base + thumbnail.path,
            "type": "Image",
            "format": thumbnail.media_type,
        }
        if thumbnail.width is not None and thumbnail.height is not None:
            thumb["width"], thumb["height"] = thumbnail.width, thumbnail.height
        value["thumbnail"] = [thumb]
    metadata = []
    if item.creator is not None:
        metadata.append(_entry("Creator", item.creator))
    if item.date is not None:
        metadata.append(_entry("Date", item.date))
    if item.place is not None:
        where = item.place.name
        if item.place.lat is not None and item.place.lon is not None:
            where += f" ({item.place.lat}, {item.place.lon})"
        metadata.append(_entry("Place", where))
    if item.subjects:
        metadata.append({"label": {"en": ["Subjects"]}, "value": {"none": list(item.subjects)}})
    metadata.append(_entry("CID", item.cid))
    value["metadata"] = metadata
    terms = item.terms
    if terms is not None:
        rights = None
        if terms.license is not None:
            rights = cc_uri(terms.license.id)
        if rights is None and terms.rights_statement is not None:
            rights = terms.rights_statement.uri
        if rights is not None:
            value["rights"] = rights
        if terms.attribution is not None:
            value["requiredStatement"] = _entry("Attribution", terms.attribution)
    return value


def collection_document(
    site: SiteContext, base: str, manifests: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The collection of the image items' manifests (``manifests`` by item id), in exhibit
    order."""
    return {
        "@context": PRESENTATION_CONTEXT,
        "id": f"{base}iiif/collection.json",
        "type": "Collection",
        "label": _language_map(list(site.written_titles)),
        "items": [
            {"id": manifests[item.id]["id"], "type": "Manifest", "label": _label(item)}
            for item in site.items
            if item.id in manifests
        ],
    }


def iiif_documents(site: SiteContext) -> dict[str, dict[str, Any]]:
    """Every IIIF document by its path relative to the site's root (empty without a
    ``base_url``): ``iiif/<id>/manifest.json`` per image item and ``iiif/collection.json``."""
    base = site.base_url
    if base is None:
        return {}
    manifests: dict[str, dict[str, Any]] = {}
    for item in site.items:
        document = manifest(site, item, base)
        if document is not None:
            manifests[item.id] = document
    documents = {f"iiif/{key}/manifest.json": value for key, value in manifests.items()}
    if manifests:
        documents["iiif/collection.json"] = collection_document(site, base, manifests)
    return documents
