"""search.json: the static index that the site's search form reads (format in the design of
issue 12; ``assets/app/search.js`` is its reader).

One entry per shown item, in exhibit order: its id and page, its title and description in
every site language (each language falls back as the page does), its subjects, place name,
date, era and kind. Nothing else: no coordinates, no CIDs.
"""

from __future__ import annotations

from typing import Any

from exhibits.site.context import SiteContext

__all__ = ["search_document"]


def search_document(site: SiteContext) -> dict[str, Any]:
    """The search index of the site (JSON values; sorted keys make it deterministic)."""
    items = []
    for item in site.items:
        items.append(
            {
                "id": item.id,
                "href": item.href,
                "title": {text.language: text.title for text in item.texts},
                "description": {
                    text.language: text.description
                    for text in item.texts
                    if text.description is not None
                },
                "subjects": list(item.subjects),
                "place": item.place.name if item.place is not None else None,
                "date": item.date,
                "era": item.era,
                "kind": item.kind,
            }
        )
    return {"languages": list(site.languages), "items": items}
