"""The words of an exhibit site's own interface — buttons, headings, the provenance panel,
the search filters, the verify messages — in one catalog, English by default, with the
translations a curator gives in the spec (``[ui.<language>]``: key → text, docs/exhibit.md).

Templates read them through :class:`UiText` (``site.ui.text(key, language)``); the scripts read
them from the page's ``<script type="application/json" id="ui-text">`` (:meth:`UiText.
script_data`). A key a translation lacks falls back to the catalog's English, and the build
report lists each such key per language (:meth:`UiText.missing`). The names and meanings of
Local Contexts Labels and Notices are not here: they stay as Local Contexts publishes them
(:mod:`exhibits.site.labels`). Translations are text: they are escaped like every other text
when they are written into a page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_UI_LANGUAGE", "UI_TEXT", "UiText"]

#: The language of :data:`UI_TEXT`, which every missing translation falls back to.
DEFAULT_UI_LANGUAGE: Final = "en"

#: Every interface string of the site, by key.
UI_TEXT: Final[dict[str, str]] = {
    "skip_to_content": "Skip to content",
    "footer.built": "Built",
    "footer.from_chain": "from the records of chain",
    "footer.registry": "registry",
    "index.gallery": "Gallery",
    "index.search": "Search",
    "index.items": "Items",
    "search.label": "Search the items",
    "search.item": "item",
    "search.items": "items",
    "search.of": "of",
    "search.match": "items match",
    "search.unavailable": "Search is unavailable: the search index could not be loaded.",
    "filter.subject": "Subject",
    "filter.subject.all": "All subjects",
    "filter.place": "Place",
    "filter.place.all": "All places",
    "filter.era": "Era",
    "filter.era.all": "All eras",
    "kind.model": "3D model",
    "kind.image": "Image",
    "kind.audio": "Sound recording",
    "kind.video": "Video",
    "kind.other": "Document",
    "item.language": "Language",
    "item.description": "Description",
    "item.context": "The community's account",
    "item.transcript": "Transcript",
    "item.details": "Details",
    "item.kind": "Kind",
    "item.creator": "Creator",
    "item.date": "Date",
    "item.subjects": "Subjects",
    "item.place": "Place",
    "item.place.within": "within about",
    "item.community": "Community",
    "item.back": "Back to",
    "provenance": "Provenance",
    "provenance.cid": "Content identifier (CID)",
    "provenance.claim": "Claim",
    "provenance.community_id": "Community id",
    "provenance.registry": "Registry",
    "provenance.on_chain": "on chain",
    "provenance.registered": "Registered",
    "provenance.block": "block",
    "provenance.transaction": "transaction",
    "terms": "Terms",
    "terms.license": "License",
    "terms.rights_statement": "Rights statement",
    "terms.attribution": "Attribution",
    "terms.ai_use": "AI use",
    "terms.ai_training": "training",
    "terms.ai_enhancement": "enhancement",
    "terms.consented": "consented",
    "terms.not_consented": "not consented",
    "terms.document": "Terms document",
    "terms.version": "version",
    "terms.labels": "Local Contexts Labels and Notices",
    "terms.unavailable": "The terms document is not available.",
    "lineage": "Lineage",
    "lineage.ai_enhanced": "AI-enhanced",
    "lineage.derivative_of": "Derivative of",
    "lineage.ai_derivative_of": "derivative of",
    "lineage.not_shown": "an item not shown in this exhibit",
    "lineage.by": "by",
    "files": "Files",
    "files.caption": "Files derived for this exhibit (the original is never copied here)",
    "files.file": "File",
    "files.type": "Type",
    "files.bytes": "Bytes",
    "files.cid": "CID",
    "iiif.manifest": "IIIF manifest",
    "verify.button": "Verify these files",
    "verify.checking": "checking…",
    "verify.verified": "verified: the served file has the CID recorded in the proofs",
    "verify.mismatch": "mismatch: the served file is not the one the proofs record",
    "verify.missing": "missing: the file could not be fetched",
    "verify.unsupported": "not checked: its import settings cannot be recomputed in this page",
    "verify.error": "could not verify",
}


@dataclass(frozen=True, slots=True)
class UiText:
    """The catalog with a spec's translations: ``translations`` is (language, ((key, text),
    …)) per translated language, keys all in :data:`UI_TEXT`."""

    translations: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

    def _table(self, language: str) -> Mapping[str, str]:
        for tag, entries in self.translations:
            if tag == language:
                return dict(entries)
        return {}

    def text(self, key: str, language: str) -> str:
        """``key`` in ``language``: the curator's translation, else the catalog's English.
        KeyError for a key the catalog does not have (a template's mistake, found by tests)."""
        default = UI_TEXT[key]
        return self._table(language).get(key, default)

    def language_of(self, key: str, language: str) -> str:
        """The language :meth:`text` answers in (``language``, or the catalog's on fallback)."""
        if language == DEFAULT_UI_LANGUAGE or key in self._table(language):
            return language
        return DEFAULT_UI_LANGUAGE

    def missing(self, languages: Sequence[str]) -> dict[str, list[str]]:
        """For each of ``languages`` other than English (the catalog's), the keys with no
        translation, sorted; languages with none missing are left out."""
        found: dict[str, list[str]] = {}
        for language in languages:
            if language.split("-")[0].lower() == DEFAULT_UI_LANGUAGE:
                continue
            table = self._table(language)
            lacking = sorted(key for key in UI_TEXT if key not in table)
            if lacking:
                found[language] = lacking
        return found

    def script_data(self, language: str) -> dict[str, str]:
        """The strings the page's scripts use (search and verify), in ``language``."""
        return {
            key: self.text(key, language)
            for key in sorted(UI_TEXT)
            if key.startswith(("search.", "verify."))
        }
