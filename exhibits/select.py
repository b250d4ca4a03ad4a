"""Select: which gathered candidates an exhibit shows, in which order and rooms, and why not.

Pure: candidates (:mod:`exhibits.gather`), the spec and a moment in, a
:class:`~exhibits.model.Choice` out. The spec narrows, the policy decides:

- a candidate is *selected* when it matches ``[select]``: its claim is by one of the
  ``communities``, it is named by ``items`` when those are listed (a CID names every claim on
  that content, an item key one claim), and its description lists one of the ``subjects``
  when those are listed (compared ignoring case);
- a selected candidate is *shown* only when :func:`ledger.rights.claims.decide_content` allows
  its content at the moment, over every claim on it (deny wins: disputed, revoked, a revoked
  parent, missing terms, or any claim's terms denying); otherwise it is *excluded*, with the
  policy's denying reasons;
- shown items are put in the exhibit's order, and into each ``[[room]]`` whose selection they
  match (every criterion a room gives narrows, as in ``[select]``), in the room's order. A
  spec without rooms has one room, titled as the exhibit, holding every shown item.

Orders (docs/exhibit.md): ``title`` (the title in the default language, ignoring case; the
file name stands in for a missing title), ``date`` (the description's date by its first year;
dates without a year after those with one, items without a date last), ``registered``
(oldest first), or an explicit list of CIDs and item keys shown first in that order. Ties
fall back to the title, then the item id, so every order is total and the output stable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from exhibits.model import Candidate, Choice, Exclusion, RoomPlan, Shown
from exhibits.spec import ExhibitSpec, Order, Selection, Text
from ledger.documents import parse_bytes32
from ledger.ipfs.cid import DAG_PB, Cid
from ledger.rights.claims import decide_content

__all__ = ["content_matches", "display_title", "matches", "order_key", "select"]

_YEAR: Final = re.compile(r"(?<!\d)(\d{3,4})(?!\d)")


def display_title(candidate: Candidate, languages: Sequence[str]) -> str:
    """The candidate's title for readers of ``languages`` (most wanted first): its
    description's title, else its file name, else its item id."""
    if candidate.description is not None:
        text = candidate.description.text("title", languages)
        if text is not None:
            return text.text
    return candidate.file_name or candidate.item_id


def content_matches(ref: Cid, cid: Cid) -> bool:
    """Does the CID ``ref`` name the same content as ``cid``? A CIDv0 and its CIDv1 form are
    the same dag-pb content; otherwise codec and multihash must agree."""
    codec = DAG_PB if ref.version == 0 else ref.codec
    other = DAG_PB if cid.version == 0 else cid.codec
    return codec == other and ref.multihash == cid.multihash


def _names(ref: str, candidate: Candidate) -> bool:
    """Does the spec's item reference ``ref`` (a CID or an item key) name ``candidate``?"""
    key = parse_bytes32(ref)
    if key is not None:
        return key == candidate.key
    return content_matches(Cid.parse(ref), candidate.cid)


def matches(
    selection: Selection, candidate: Candidate, communities: Mapping[str, bytes]
) -> bool:
    """Does ``candidate`` match every criterion ``selection`` gives? ``communities`` maps each
    community reference of the spec (name or id, as written) to its id."""
    if selection.communities:
        wanted = {communities[ref] for ref in selection.communities if ref in communities}
        if candidate.community not in wanted:
            return False
    if selection.items and not any(_names(ref, candidate) for ref in selection.items):
        return False
    if selection.subjects:
        listed = (
            {s.casefold() for s in candidate.description.subjects}
            if candidate.description is not None
            else set()
        )
        if not any(s.casefold() in listed for s in selection.subjects):
            return False
    return True


def _title_key(candidate: Candidate, language: str) -> tuple[str, str, str]:
    title = display_title(candidate, (language,))
    return title.casefold(), title, candidate.item_id


def _date_key(candidate: Candidate) -> tuple[int, int, str]:
    date = candidate.description.date if candidate.description is not None else None
    if date is None:
        return 2, 0, ""
    year = _YEAR.search(date)
    return (0, int(year.group(1)), date) if year else (1, 0, date)


def order_key(order: Order, language: str) -> Callable[[Candidate], tuple[Any, ...]]:
    """The sort key of ``order`` (a named order or an explicit list) for candidates."""
    if isinstance(order, tuple):
        refs = order

        def explicit(c: Candidate) -> tuple[Any, ...]:
            place = next((i for i, ref in enumerate(refs) if _names(ref, c)), len(refs))
            return place, _title_key(c, language)

        return explicit
    if order == "date":
        return lambda c: (_date_key(c), _title_key(c, language))
    if order == "registered":
        return lambda c: (c.registered_at, c.block, c.item_id)
    return lambda c: _title_key(c, language)


def _room(
    title: Text,
    selection: Selection | None,
    order: Order,
    shown: Sequence[Candidate],
    communities: Mapping[str, bytes],
    language: str,
) -> RoomPlan:
    inside = [c for c in shown if selection is None or matches(selection, c, communities)]
    inside.sort(key=order_key(order, language))
    return RoomPlan(title=title, items=tuple(c.item_id for c in inside))


def select(
    spec: ExhibitSpec,
    candidates: Sequence[Candidate],
    at: datetime,
    communities: Mapping[str, bytes],
) -> Choice:
    """Decide ``candidates`` (gathered for ``spec``) at ``at`` (aware): the shown ones in
    exhibit order with their rooms, the excluded ones (sorted by item id) with the reasons.
    Candidates that ``[select]`` does not match are neither."""
    language = spec.default_language
    shown: list[Shown] = []
    excluded: list[Exclusion] = []
    seen: set[bytes] = set()
    for candidate in candidates:
        if candidate.key in seen or not matches(spec.selection, candidate, communities):
            continue
        seen.add(candidate.key)
        decision = decide_content(candidate.claims, at)
        if decision.allowed:
            shown.append(Shown(candidate, decision))
        else:
            excluded.append(Exclusion(candidate, decision.denials or decision.reasons))
    key = order_key(spec.order, language)
    shown.sort(key=lambda s: key(s.candidate))
    excluded.sort(key=lambda e: e.candidate.item_id)
    items = [s.candidate for s in shown]
    if spec.rooms:
        rooms = tuple(
            _room(r.title, r.selection, r.order, items, communities, language)
            for r in spec.rooms
        )
    else:
        rooms = (_room(spec.title, None, spec.order, items, communities, language),)
    return Choice(shown=tuple(shown), rooms=rooms, excluded=tuple(excluded))
