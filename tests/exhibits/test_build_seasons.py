"""Seasons are honoured at build time: an item under TK Seasonal with a display season is in the
site while the build moment is inside its season and leaves it at the next build outside it,
the report naming the season as the reason; it comes back the next season. Real anvil and the
embedded node; the real site renderer."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from exhibits.build import BuildResult, build_exhibit
from exhibits.spec import parse_spec
from ledger.registry import Registry
from ledger.settings import Settings
from local_chain import anvil_dev_account
from tests.registry_support import chain_settings, keyed_community, module_chain, settings_on
from tests.rights_support import public_terms, write_terms

REUSED_FIXTURES = (chain_settings, module_chain)


@pytest.fixture(scope="module")
def seasonal(
    module_chain: Settings, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, str, str]:
    folder = tmp_path_factory.mktemp("seasons")
    settings = settings_on(module_chain, folder / "data")
    name = f"Dry-Season-{folder.name}"
    image = folder / "winter-song.png"
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 120, 40)).save(buffer, "PNG")
    image.write_bytes(buffer.getvalue())
    with Registry(settings, sender=anvil_dev_account()) as registry:
        keys = keyed_community(registry, name, 1, 1)
        community = registry.reader.resolve_community(name)
        # Shown only from 1 May to 30 September, whole days in UTC (docs/terms.md).
        display = {"time_zone": "UTC", "seasons": [{"from": "05-01", "to": "09-30"}]}
        terms = write_terms(
            folder / "seasonal.json",
            public_terms(community, labels=["tk:attribution", "tk:seasonal"], display=display),
        )
        (registered,) = registry.items.register([image], community, terms, keys)
    return settings, name, "0x" + registered.key.hex()


def build(settings: Settings, name: str, out: Path, at: datetime) -> BuildResult:
    spec = parse_spec(
        f'title = "Seasons"\nlanguages = ["en"]\n[select]\ncommunities = ["{name}"]\n'
    )
    return build_exhibit(spec, out, settings=settings, at=at)


def test_an_item_leaves_the_site_out_of_season_and_comes_back_in_season(
    seasonal: tuple[Settings, str, str], tmp_path: Path
) -> None:
    settings, name, item = seasonal
    out = tmp_path / "site"
    summer = build(settings, name, out, datetime(2027, 9, 30, 23, 59, tzinfo=UTC))
    assert [s.candidate.item_id for s in summer.choice.shown] == [item]
    assert (out / "items" / item / "index.html").is_file()

    autumn = build(settings, name, out, datetime(2027, 10, 1, 0, 0, tzinfo=UTC))
    assert autumn.choice.shown == ()
    assert not (out / "items" / item).exists()
    assert item.encode() not in b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    removed = autumn.report["changes"]["removed"]
    assert [r["id"] for r in removed] == [item]
    codes = {why["code"] for why in removed[0]["why"]}
    assert codes & {"label.out-of-season", "window.out-of-season"}, codes

    next_year = build(settings, name, out, datetime(2028, 5, 1, 0, 0, tzinfo=UTC))
    assert [s.candidate.item_id for s in next_year.choice.shown] == [item]
    assert [a["id"] for a in next_year.report["changes"]["added"]] == [item]
