"""schema.org JSON-LD for every page, and the one safe way to put JSON inside ``<script>``.

:func:`script_json` serialises a value for a ``<script type="application/ld+json">`` (or
``application/json``) block: keys sorted, and ``<``, ``>``, ``&``, U+2028 and U+2029 written as
``\\u003c`` … so that no text (``</script>``, ``<!--``) can end the block or change how the
HTML parser reads it; JSON readers decode them back to the same characters.

URLs: with the spec's ``base_url`` every ``url``/``@id`` is absolute; without it they are
relative, which JSON-LD resolves against the page's own URL (JSON-LD 1.1 § 4.1.1). Apart
from these, the only absolute URL is the ``@context`` ``https://schema.org``: an identifier,
which browsers never fetch.
"""

from __future__ import annotations

from typing import Any, Final

from exhibits.site.context import ItemContext, SiteContext
from exhibits.site.script_data import script_json

__all__ = ["SCHEMA_TYPES", "index_jsonld", "item_jsonld", "script_json", "site_url"]

#: The schema.org type of an item page, by kind.
SCHEMA_TYPES: Final = {
    "model": "3DModel",
    "image": "ImageObject",
    "audio": "AudioObject",
    "video": "VideoObject",
    "other": "CreativeWork",
}

def site_url(site: SiteContext, path: str, here: str) -> str:
    """The URL of ``path`` (relative to the site's root) as written on the page at ``here``
    (the page's folder relative to the root, "" or "items/<id>/"): absolute with a base URL,
    else relative to the page."""
    if site.base_url is not None:
        return site.base_url + path
    depth = here.count("/")
    return ("../" * depth + path) or "./"


def _place(item: ItemContext) -> dict[str, Any] | None:
    if item.place is None:
        return None
    place: dict[str, Any] = {"@type": "Place", "name": item.place.name}
    if item.place.lat is not None and item.place.lon is not None:
        place["geo"] = {
            "@type": "GeoCoordinates",
            "latitude": item.place.lat,
            "longitude": item.place.lon,
        }
    return place


def item_jsonld(site: SiteContext, item: ItemContext) -> dict[str, Any]:
    """The item page's JSON-LD: what the item is, in the default language."""
    here = item.href
    text = item.text
    value: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": SCHEMA_TYPES[item.kind],
        "@id": site_url(site, item.href, here),
        "url": site_url(site, item.href, here),
        "name": text.title,
        "inLanguage": text.title_lang,
        "identifier": item.cid,
        "isPartOf": {
            "@type": "CollectionPage",
            "name": site.title,
            "url": site_url(site, "", here),
        },
    }
    if text.description is not None:
        value["description"] = text.description
    if item.creator is not None:
        value["creator"] = item.creator  # schema.org accepts text where a Person is expected
    if item.date is not None:
        value["dateCreated"] = item.date
    if item.subjects:
        value["keywords"] = list(item.subjects)
    place = _place(item)
    if place is not None:
        value["contentLocation"] = place
    if item.terms is not None:
        if item.terms.license is not None:
            value["license"] = item.terms.license.uri
        elif item.terms.rights_statement is not None:
            value["license"] = item.terms.rights_statement.uri
        if item.terms.attribution is not None:
            value["creditText"] = item.terms.attribution
    main = item.file("model") or item.media or item.file("image")
    if main is not None:
        value["contentUrl"] = site_url(site, main.path, here)
        value["encodingFormat"] = main.media_type
    picture = item.small_picture
    if picture is not None:
        value["thumbnailUrl"] = site_url(site, picture.path, here)
    if text.transcript is not None and item.kind in ("audio", "video"):
        value["transcript"] = text.transcript
    return value


def index_jsonld(site: SiteContext) -> dict[str, Any]:
    """The index page's JSON-LD: the exhibit as a collection page listing its items."""
    return {
        "@context": "https://schema.org",
        "@type": "CollectionPage",
        "@id": site_url(site, "", ""),
        "url": site_url(site, "", ""),
        "name": site.title,
        "inLanguage": site.default_language,
        "hasPart": [
            {
                "@type": SCHEMA_TYPES[item.kind],
                "@id": site_url(site, item.href, ""),
                "url": site_url(site, item.href, ""),
                "name": item.text.title,
            }
            for item in site.items
        ],
    }
