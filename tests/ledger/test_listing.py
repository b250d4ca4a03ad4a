"""The listing (ledger.registry.listing) against a collection registered on the real anvil and
the embedded node: order, names, terms, titles as written, what is withheld, filters, search in
several scripts, pagination, and bad filter values."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ledger.errors import NotFound, UsageError
from ledger.registry import Registry, latest_description
from ledger.registry.listing import ItemPage, Listing, item_query, search_key
from ledger.registry.results import Claim
from ledger.settings import Settings
from tests.ledger.listing_world import (
    FIRST_PADDLE_TITLE,
    SECRET_WORDS,
    TITLES,
    ListingWorld,
    make_listing_world,
)
from tests.registry_support import chain_settings, module_chain

REUSED_FIXTURES = (chain_settings, module_chain)

ORDER = ("paddle", "bowl", "map", "sacred", "adze", "tide", "drum", "cloak", "stone", "stone-reef",
         "net", "kite", "rite-a", "rite-b", "restored")  # fmt: skip
WITHHELD = {"sacred": "sealed", "adze": "sealed", "drum": "revoked", "cloak": "withdrawn",
            "rite-a": "sealed", "rite-b": "sealed"}  # fmt: skip
SEALED = ["sacred", "rite-a", "rite-b"]  # TK Secret/Sacred, for the community


@pytest.fixture(scope="module")
def world(module_chain: Settings, tmp_path_factory: pytest.TempPathFactory) -> ListingWorld:
    return make_listing_world(module_chain, tmp_path_factory.mktemp("listing-world"))


@pytest.fixture
def reg(world: ListingWorld) -> Iterator[Registry]:
    with Registry(world.settings) as registrar:
        yield registrar


def names(world: ListingWorld, page: ItemPage) -> list[str]:
    by_key = {k: n for n, k in world.keys.items()}
    return [by_key[item.key] for item in page.items]


def listed(reg: Registry, **filters: object) -> ItemPage:
    return Listing(reg.reader).items(item_query(**filters))  # type: ignore[arg-type]


def test_every_claim_in_chain_order_with_names_beside_ids(
    world: ListingWorld, reg: Registry
) -> None:
    page = listed(reg)
    assert names(world, page) == list(ORDER)
    assert page.total == len(ORDER) and page.missing_manifests == 0
    items = {n: i for n, i in zip(ORDER, page.items, strict=True)}
    assert [items[n].kind for n in ("paddle", "net", "kite", "restored")] == [
        "item", "batch-item", "batch-item", "derivative"
    ]  # fmt: skip
    assert items["net"].batch == items["kite"].batch and items["net"].position == 0
    assert items["kite"].position == 1
    assert items["rite-a"].batch == items["rite-b"].batch != items["net"].batch
    # one content, two claims: each community's own row
    assert items["stone"].cid == items["stone-reef"].cid
    assert items["stone"].key != items["stone-reef"].key
    assert [n for n, i in items.items() if i.disputed] == ["stone", "stone-reef"]
    assert items["restored"].parent == world.keys["paddle"]
    for name, item in items.items():
        assert item.cid == world.cids[name]
        owner = world.hill if name == "stone" else world.reef
        assert item.community.id == owner
        assert item.community.name == (world.hill_name if name == "stone" else world.reef_name)
    assert items["map"].steward.id == world.hill and items["map"].steward.name == world.hill_name


def test_terms_access_and_status(world: ListingWorld, reg: Registry) -> None:
    items = dict(zip(ORDER, listed(reg).items, strict=True))
    assert {n: i.access for n, i in items.items() if i.access != "public"} == {
        "sacred": "community", "cloak": "community", "rite-a": "community",
        "rite-b": "community", "adze": "restricted",  # community and restricted: the stricter
    }  # fmt: skip
    assert {n: i.status for n, i in items.items() if i.status != "current"} == {
        "drum": "revoked", "cloak": "withdrawn"
    }  # fmt: skip
    assert items["bowl"].labels == ("tk:attribution", "tk:community-voice")
    assert items["sacred"].labels == ("tk:secret-sacred",)
    assert items["sacred"].sealed is items["rite-a"].sealed is items["rite-b"].sealed is True
    assert items["adze"].sealed is True and items["adze"].labels == ("tk:men-restricted",)
    # withdrawn and revoked: their public metadata was unpinned and collected here
    assert items["cloak"].sealed is None and items["drum"].sealed is None
    assert items["cloak"].terms_version == 2 and items["paddle"].terms_version == 1
    assert items["paddle"].license == "CC-BY-4.0" and items["sacred"].license is None


def test_titles_are_the_ones_written_and_the_current_description(
    world: ListingWorld, reg: Registry
) -> None:
    page = listed(reg)
    for name, item in zip(ORDER, page.items, strict=True):
        if name in WITHHELD:
            continue
        assert item.withheld is None, name
        assert dict(item.titles or {}) == TITLES[name]
        assert item.title == next(iter(TITLES[name].values())) or name == "bowl"
        assert item.file_name == world.files[name]
        assert item.media_type == "image/png"
        # the description reader's own answer, through its own path
        claim = Claim(item.key, None, item.community.id, item.kind, batch=item.batch)
        if item.kind != "batch-item":
            current = latest_description(reg.reader, claim)
            assert current is not None
            assert current[0].text("title") is not None
            assert current[0].text("title").text == item.title  # type: ignore[union-attr]
            assert current[1] == item.description_version
    paddle = page.items[0]
    assert paddle.description_version == 2 and paddle.title != FIRST_PADDLE_TITLE


def test_withheld_items_show_no_text_at_all(world: ListingWorld, reg: Registry) -> None:
    page = listed(reg)
    items = dict(zip(ORDER, page.items, strict=True))
    for name, why in WITHHELD.items():
        item = items[name]
        assert item.withheld == why
        assert (item.title, item.titles, item.file_name, item.media_type, item.size) == (
            None, None, None, None, None
        )  # fmt: skip
    everything = json.dumps([i.to_json() for i in page.items], ensure_ascii=False)
    for word in (*SECRET_WORDS, *TITLES["sacred"].values(), *TITLES["drum"].values(),
                 *TITLES["cloak"].values(), "drum.png", "cloak.png"):  # fmt: skip
        assert word not in everything


def test_withheld_even_when_their_public_metadata_is_back_on_the_node(
    world: ListingWorld, reg: Registry
) -> None:
    """Revoked and withdrawn items are withheld by their terms, not only because their
    metadata left the node: put it back (as a copy made elsewhere could be), nothing shows."""
    from ledger.ipfs.cid import RAW

    for block in world.withdrawn_metadata:
        assert b"Thunderdrum" in block or b"Featherlight" in block
        reg.node.block_put(block, RAW)  # unpinned: the next collection removes it again
    try:
        items = dict(zip(ORDER, listed(reg).items, strict=True))
        searched = [listed(reg, search=w).total for w in ("Thunderdrum", "Featherlight cloak")]
    finally:
        collected = {str(c) for c in reg.node.gc()}
    assert len(collected) >= 2
    assert items["drum"].sealed is False and items["cloak"].sealed is False  # read, public
    assert searched == [0, 0]
    for name in ("drum", "cloak"):
        assert items[name].withheld == WITHHELD[name] and items[name].title is None
        assert items[name].file_name is None and items[name].titles is None
    everything = json.dumps([i.to_json() for i in items.values()], ensure_ascii=False)
    assert "Thunderdrum" not in everything and "Featherlight" not in everything


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"access": ["community"]}, ["sacred", "cloak", "rite-a", "rite-b"]),
        ({"access": ["restricted"]}, ["adze"]),
        ({"access": ["public", "restricted"]},
         [n for n in ORDER if n not in ("sacred", "cloak", "rite-a", "rite-b")]),
        ({"status": ["revoked", "withdrawn"]}, ["drum", "cloak"]),
        ({"status": ["current"], "access": ["community"]}, SEALED),
        ({"labels": ["tk:attribution"]}, ["bowl"]),
        ({"labels": ["tk:attribution", "tk:community-voice"]}, ["bowl"]),
        ({"labels": ["tk:attribution", "tk:seasonal"]}, []),
        ({"labels": ["TK:Secret-Sacred"]}, SEALED),
    ],
)  # fmt: skip
def test_filters(world: ListingWorld, reg: Registry, filters: dict[str, object],
                 expected: list[str]) -> None:  # fmt: skip
    page = listed(reg, **filters)
    assert names(world, page) == expected and page.total == len(expected)


def test_titles_in_the_language_asked_for(world: ListingWorld, reg: Registry) -> None:
    items = dict(zip(ORDER, listed(reg, languages=["mi"]).items, strict=True))
    assert (items["paddle"].title, items["paddle"].title_language) == ("Hoe whakairo", "mi")
    assert items["bowl"].title == "Kumete Māori"
    assert (items["map"].title, items["map"].title_language) == ("Alte Straßenkarte", "de")
    items = dict(zip(ORDER, listed(reg, languages=["ja-JP", "mi"]).items, strict=True))
    assert (items["bowl"].title, items["paddle"].title) == ("縄文の鉢", "Hoe whakairo")
    assert items["sacred"].title is None  # whatever the language


def test_an_unknown_community_is_not_found(reg: Registry) -> None:
    with pytest.raises(NotFound) as raised:
        listed(reg, communities=[b"\x01" * 32])
    assert "0x" + "01" * 32 in raised.value.message and raised.value.hint


def test_community_filter_takes_registrant_or_steward(world: ListingWorld, reg: Registry) -> None:
    assert names(world, listed(reg, communities=[world.hill])) == ["map", "stone"]
    reef = names(world, listed(reg, communities=[world.reef]))
    assert reef == [n for n in ORDER if n != "stone"]
    both = names(world, listed(reg, communities=[world.hill, world.reef]))
    assert both == list(ORDER)


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("kumete maori", ["bowl"]),  # Māori written with a macron, two words
        ("縄文", ["bowl"]),  # no spaces: inside the title
        ("STRASSENKARTE", ["map"]),  # ß case-folds to ss
        ("ΧΑΡΤΗΣ", ["map"]),  # Greek capitals, accent dropped
        ("paddle", ["paddle", "restored"]),
        ("ceremony", ["bowl"]),  # a subject
        ("kite.png", ["kite"]),  # a file name
        ("tide", ["tide"]),  # embargoed but public: its text is public on IPFS
        ("standing STONE", ["stone", "stone-reef"]),  # two communities' claims
        ("pou kohatu", ["stone-reef"]),
        (FIRST_PADDLE_TITLE, []),  # replaced by a correction
        ("bowl nowhere", []),  # every word must match
    ],
)  # fmt: skip
def test_search_in_several_languages(world: ListingWorld, reg: Registry, search: str,
                                     expected: list[str]) -> None:  # fmt: skip
    page = listed(reg, search=search)
    assert names(world, page) == expected


@pytest.mark.parametrize("word", [*SECRET_WORDS, "chant", "cloak", "drum", "Karakia"])
def test_search_never_matches_withheld_items(reg: Registry, word: str) -> None:
    assert listed(reg, search=word).total == 0


def test_pages_are_slices_of_one_stable_order(world: ListingWorld, reg: Registry) -> None:
    full = [i.key for i in listed(reg).items]
    seen: list[bytes] = []
    for offset in range(0, len(full) + 3, 3):
        page = listed(reg, limit=3, offset=offset)
        assert page.total == len(full)
        seen += [i.key for i in page.items]
    assert seen == full
    assert listed(reg, limit=2, offset=len(full)).items == ()
    assert names(world, listed(reg, access=["public"], limit=2, offset=1)) == ["bowl", "map"]


def test_documents_are_read_once_per_listing(reg: Registry) -> None:
    listing = Listing(reg.reader)
    node = reg.reader.node
    reads: list[str] = []
    real = node.block_get

    def counting(cid):  # type: ignore[no-untyped-def]
        reads.append(str(cid))
        return real(cid)

    node.block_get = counting  # type: ignore[method-assign]
    try:
        listing.items(item_query())
        first = len(reads)
        assert first > 0 and len(set(reads)) == first  # each document once
        listing.items(item_query(search="paddle"))
        listing.communities()
        assert len(reads) == first  # everything was read already
    finally:
        del node.block_get


def test_communities_with_names_and_counts(world: ListingWorld, reg: Registry) -> None:
    found = {c.id: c for c in Listing(reg.reader).communities()}
    reef, hill = found[world.reef], found[world.hill]
    assert (reef.name, hill.name) == (world.reef_name, world.hill_name)
    assert (reef.threshold, len(reef.keyholders), hill.threshold, len(hill.keyholders)) == (
        1, 2, 1, 1
    )  # fmt: skip
    assert (reef.claims, reef.stewards, hill.claims, hill.stewards) == (14, 13, 1, 2)
    assert list(found).index(world.reef) < list(found).index(world.hill)
    assert reef.to_json()["id"] == "0x" + world.reef.hex()


@pytest.mark.parametrize(
    ("filters", "named"),
    [
        ({"access": ["secret"]}, "--access 'secret'"),
        ({"status": ["gone"]}, "--status 'gone'"),
        ({"labels": ["tk:nonsense"]}, "--label 'tk:nonsense'"),
        ({"limit": 0}, "--limit 0"),
        ({"offset": -1}, "--offset -1"),
        ({"search": "   "}, "--search"),
        ({"languages": ["not a tag"]}, "--language 'not a tag'"),
    ],
)
def test_bad_filter_values_are_usage_errors(filters: dict[str, object], named: str) -> None:
    with pytest.raises(UsageError) as raised:
        item_query(**filters)  # type: ignore[arg-type]
    assert named in raised.value.message and raised.value.hint


def test_search_key_folds_case_and_accents() -> None:
    # known answers from Unicode's case folding and decomposition tables
    assert search_key("Māori") == "maori"
    assert search_key("Straße") == "strasse"
    assert search_key("ΧΆΡΤΗΣ") == search_key("χάρτης") == "χαρτησ"
    assert search_key("ﬁsh") == "fish"  # the ligature decomposes


# Last in the module: it revokes an item (on a chain snapshot, undone after), which also
# withdraws the item's plaintext and metadata from the world's node.
def test_a_kept_listing_follows_a_revocation(world: ListingWorld) -> None:
    """A listing kept across calls (a server's) caches documents by digest, never a decision:
    the next call after a revocation withholds the item and stops matching it."""
    from ledger.chain import connect
    from ledger.registry import SignerKeys
    from local_chain import anvil_dev_account
    from tests.registry_support import PASSPHRASE, chain_snapshot

    with chain_snapshot(connect(world.settings.rpc_url)), Registry(
        world.settings, sender=anvil_dev_account()
    ) as reg:
        kept = Listing(reg.reader)
        before = kept.items(item_query(search="kumete"))
        assert [i.title for i in before.items] == ["Feast bowl"]
        keys = SignerKeys(world.settings, lambda _address: PASSPHRASE)
        reg.terms.revoke(world.cids["bowl"], keys, world.reef)
        assert kept.items(item_query(search="kumete")).total == 0
        (bowl,) = [i for i in kept.items(item_query()).items if i.key == world.keys["bowl"]]
        assert (bowl.status, bowl.withheld, bowl.title) == ("revoked", "revoked", None)
