"""exhibits.select over hand-made candidates: the spec narrows, decide_content decides, orders
and rooms are total and stable. Pure and fast: no chain, no node."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from exhibits.model import Candidate
from exhibits.select import content_matches, display_title, matches, select
from exhibits.spec import parse_spec
from ledger.ipfs.cid import DAG_PB, RAW, Cid
from ledger.rights.claims import ClaimTerms
from ledger.rights.description import description_from_json
from ledger.rights.model import Terms, parse_terms
from tests.rights_support import public_terms, restricted_terms

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
REEF = hashlib.sha256(b"reef").digest()
HILL = hashlib.sha256(b"hill").digest()
COMMUNITIES = {"Reef People": REEF, "0x" + HILL.hex(): HILL}


def terms(community: bytes, **overrides: Any) -> Terms:
    return parse_terms(public_terms(community, **overrides))


def candidate(
    name: str,
    community: bytes = REEF,
    *,
    title: str | None = None,
    date: str | None = None,
    subjects: tuple[str, ...] = (),
    document: Terms | str | None = "public",
    revoked: bool = False,
    others: tuple[ClaimTerms, ...] = (),
    registered: int = 0,
    cid: Cid | None = None,
) -> Candidate:
    cid = cid or Cid.for_block(name.encode(), RAW, 1)
    key = hashlib.sha256(community + bytes(cid)).digest()
    item_terms = terms(community) if document == "public" else document
    assert not isinstance(item_terms, str)
    description = None
    if title is not None:
        value: dict[str, Any] = {
            "type": "heritage/description",
            "version": 1,
            "title": {"en": title},
        }
        if date is not None:
            value["date"] = date
        if subjects:
            value["subjects"] = list(subjects)
        description = description_from_json(value)
    own = ClaimTerms(key, community, item_terms, revoked)
    return Candidate(
        key=key, cid=cid, community=community, community_name=None, kind="item",
        file_name=f"{name}.jpg", media_type="image/jpeg", size=10, description=description,
        description_version=1 if description else 0, terms=item_terms, terms_cid=None,
        terms_version=1, revoked=revoked, claims=(own, *others),
        registered_at=NOW - timedelta(days=30 - registered), block=10 + registered,
        transaction=None,
    )  # fmt: skip


def spec(extra: str = "", select_extra: str = "") -> Any:
    return parse_spec(
        f'title = "Reef"\nlanguages = ["en"]\n{extra}\n[select]\n'
        f'communities = ["Reef People", "0x{HILL.hex()}"]\n{select_extra}\n'
    )


def shown_ids(choice: Any) -> list[str]:
    return [s.candidate.item_id for s in choice.shown]


def test_shown_is_exactly_the_allowed_set_with_reasons_for_the_rest() -> None:
    public = candidate("a", title="Anchor")
    sealed = candidate("b", title="Bowl", document=parse_terms(public_terms(
        REEF, license=None, rights_statement="http://rightsstatements.org/vocab/InC/1.0/",
        labels=["tk:secret-sacred"], access=[{"protocol": "community"}],
        location={"precision": "hidden"})))  # fmt: skip
    embargoed = candidate("c", title="Canoe", document=terms(REEF, display={
        "time_zone": "UTC", "embargo_until": "2030-01-01T00:00:00Z"}))  # fmt: skip
    revoked = candidate("d", title="Drum", revoked=True)
    missing = candidate("e", title="Eel trap", document=None)
    other = candidate("f", HILL, title="Fern")
    disputed_cid = Cid.for_block(b"shared", RAW, 1)
    rival = ClaimTerms(b"\x01" * 32, HILL, terms(HILL), False)
    disputed = candidate("g", title="Gourd", cid=disputed_cid, others=(rival,))
    choice = select(
        spec(), [public, sealed, embargoed, revoked, missing, other, disputed], NOW, COMMUNITIES
    )
    assert set(shown_ids(choice)) == {public.item_id, other.item_id}
    why = {e.candidate.item_id: {r.code for r in e.reasons} for e in choice.excluded}
    assert why == {
        sealed.item_id: {"access.not-public", "rights_statement.needs-grant", "label.denies"},
        embargoed.item_id: {"window.embargoed"},
        revoked.item_id: {"claim.revoked"},
        missing.item_id: {"claim.terms-unavailable"},
        disputed.item_id: {"content.disputed"},
    }  # fmt: skip
    assert all(r.denies for e in choice.excluded for r in e.reasons)
    assert [e.candidate.item_id for e in choice.excluded] == sorted(why)


def test_the_spec_narrows_by_community_item_and_subject() -> None:
    reef = candidate("a", title="Song of the tide", subjects=("Songs",))
    carving = candidate("b", title="Carved post", subjects=("carving",))
    stranger = candidate("c", hashlib.sha256(b"elsewhere").digest(), title="Stranger")
    assert not matches(spec().selection, stranger, COMMUNITIES)
    by_subject = select(spec(select_extra='subjects = ["songs"]'), [reef, carving, stranger],
                        NOW, COMMUNITIES)  # fmt: skip
    assert shown_ids(by_subject) == [reef.item_id]
    assert by_subject.excluded == ()  # not selected is not excluded
    by_key = select(spec(select_extra=f'items = ["{carving.item_id}"]'), [reef, carving], NOW,
                    COMMUNITIES)  # fmt: skip
    assert shown_ids(by_key) == [carving.item_id]
    by_cid = select(spec(select_extra=f'items = ["{reef.cid}"]'), [reef, carving], NOW,
                    COMMUNITIES)  # fmt: skip
    assert shown_ids(by_cid) == [reef.item_id]


def test_a_cidv0_names_the_same_content_as_its_cidv1() -> None:
    v0 = Cid(0, DAG_PB, b"\x12\x20" + hashlib.sha256(b"x").digest())
    assert content_matches(v0, v0.to_v1()) and content_matches(v0.to_v1(), v0)
    assert not content_matches(v0, Cid(1, RAW, v0.multihash))


def test_orders_title_date_registered_and_explicit() -> None:
    a = candidate("a", title="banyan", date="c. 1920", registered=3)
    b = candidate("b", title="Anchor", date="1887-05-01", registered=2)
    c = candidate("c", title="canoe", registered=1)
    d = candidate("d", title="Drum", date="undated", registered=4)
    everything = [a, b, c, d]
    by = {
        order: shown_ids(select(spec(select_extra=f"order = {order}"), everything, NOW,
                                COMMUNITIES))
        for order in ('"title"', '"date"', '"registered"', f'["{d.item_id}", "{c.cid}"]')
    }  # fmt: skip
    ids = {x: x.item_id for x in everything}
    assert by['"title"'] == [ids[b], ids[a], ids[c], ids[d]]
    assert by['"date"'] == [ids[b], ids[a], ids[d], ids[c]]  # years, then text, then none
    assert by['"registered"'] == [ids[c], ids[b], ids[a], ids[d]]
    assert by[f'["{d.item_id}", "{c.cid}"]'] == [ids[d], ids[c], ids[b], ids[a]]


def test_rooms_take_from_the_shown_items_in_their_own_order() -> None:
    song = candidate("a", title="Song", subjects=("songs",), registered=2)
    chant = candidate("b", title="Chant", subjects=("songs",), registered=1)
    post = candidate("c", title="Post", subjects=("carving",))
    hidden = candidate("d", title="Hidden song", subjects=("songs",), revoked=True)
    choice = select(
        parse_spec(
            'title = "Reef"\nlanguages = ["en"]\n[select]\ncommunities = ["Reef People"]\n'
            '[[room]]\ntitle = "Songs"\nsubjects = ["songs"]\norder = "registered"\n'
            '[[room]]\ntitle = "All"\ncommunities = ["Reef People"]\n'
        ),
        [song, chant, post, hidden],
        NOW,
        COMMUNITIES,
    )
    assert [r.title for r in choice.rooms] == [(("en", "Songs"),), (("en", "All"),)]
    assert choice.rooms[0].items == (chant.item_id, song.item_id)
    assert choice.rooms[1].items == (chant.item_id, post.item_id, song.item_id)
    assert hidden.item_id not in {i for r in choice.rooms for i in r.items}


def test_without_rooms_one_room_holds_every_shown_item() -> None:
    items = [candidate("a", title="B"), candidate("b", title="A")]
    choice = select(spec(), items, NOW, COMMUNITIES)
    assert len(choice.rooms) == 1
    assert choice.rooms[0].title == (("en", "Reef"),)
    assert choice.rooms[0].items == tuple(shown_ids(choice)) == (items[1].item_id, items[0].item_id)


@pytest.mark.parametrize("title", [None, "Shown title"])
def test_display_title_falls_back_to_the_file_name(title: str | None) -> None:
    item = candidate("fallback", title=title)
    assert display_title(item, ("en",)) == (title or "fallback.jpg")


def test_restricted_terms_of_a_second_claim_deny_the_shared_content() -> None:
    cid = Cid.for_block(b"both", RAW, 1)
    rival = ClaimTerms(b"\x02" * 32, REEF, parse_terms(restricted_terms(REEF)), False)
    item = candidate("both", cid=cid, others=(rival,))
    choice = select(spec(), [item], NOW, COMMUNITIES)
    assert choice.shown == ()
    assert "access.not-public" in {r.code for r in choice.excluded[0].reasons}
