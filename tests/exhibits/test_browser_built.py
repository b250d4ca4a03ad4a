"""A real exhibit, end to end: a small mixed collection registered through the CLI (the
session's anvil, the embedded IPFS node), built by ``heritage exhibit build``, served by
:func:`exhibits.serve.make_server`, and looked at in chromium (WebGL through SwiftShader).

The gallery draws; every item page loads with no console error, no CSP violation and no request
outside the site; each model page's model-viewer loads the derived GLB, the image shows, the
recording's player reads its metadata; the verify button says verified, then mismatch once one
byte of a served file changes; the excluded item has no page. Every GLB the site serves passes
the Khronos validator; ``heritage verify --proofs`` judges a served GLB; and the pythreejs
preview of the same spec holds one object per shown item. Screenshots land in
build/test-artifacts/ (built-*.png).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trimesh
from PIL import Image
from playwright.sync_api import BrowserContext, Page

from exhibits.serve import make_server
from exhibits.spec import load_spec
from ledger.settings import load_settings
from tests.browser_support import INSECURE_HOST, Watch, keep_screenshot, launch, screenshot
from tests.cli_runner import isolated_environment
from tests.exhibits.built_site_support import (
    BUNNY_FACE_BUDGET,
    FACE_BUDGET,
    NAMES,
    Built,
    build_collection,
)
from tests.exhibits.media_support import CANARY as MEDIA_CANARY
from tests.exhibits.model_masters import CANARY as MODEL_CANARY
from tests.exhibits.model_masters import validate
from tests.registry_support import Chain, chain, chain_snapshot

REUSED_FIXTURES = (chain,)

#: The kind each shown item is derived as, and the files its page serves.
KINDS = {
    "bunny": "model",
    "teapot": "model",
    "photo": "image",
    "waiata": "audio",
    "letter": "other",
}


@pytest.fixture(scope="module")
def built(chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    with chain_snapshot(chain.w3()):
        yield build_collection(chain, tmp_path_factory.mktemp("built-exhibit"))


@pytest.fixture(scope="module")
def origin(built: Built) -> Iterator[str]:
    server = make_server(built.site, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserContext]:
    with launch() as context:
        yield context


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    page = browser.new_page()
    try:
        yield page
    finally:
        page.close()


def proofs(built: Built) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((built.site / "proofs.json").read_text("utf-8"))
    return result


def test_the_build_shows_the_allowed_items_and_nothing_of_the_sacred_one(built: Built) -> None:
    summary = json.loads(built.build_output)
    assert summary["counts"] == {"selected": 6, "shown": 5, "excluded": 1}
    assert sorted(summary["shown"]) == sorted(built.ids[n] for n in NAMES)
    assert [e["id"] for e in summary["excluded"]] == [built.ids["sacred"]]
    items = proofs(built)["items"]
    assert sorted(items) == sorted(built.ids[n] for n in NAMES)
    for name, kind in KINDS.items():
        names = {f["name"] for f in items[built.ids[name]]["files"]}
        expected = {
            "model": {"model.glb", "poster.png"},
            "image": {"image.jpg", "thumbnail.jpg"},
            "audio": {"audio.opus", "poster.png"},
            "other": {"poster.png"},
        }[kind]
        assert names == expected, (name, names)
    secrets = [built.ids["sacred"][2:], built.cids["sacred"], "Sacred stone", "sacred-stone"]
    for path in built.site.rglob("*"):
        if path.is_file():
            data = path.read_bytes().lower()
            for secret in secrets:
                assert secret.lower().encode() not in data, (path, secret)
    assert not (built.site / "items" / built.ids["sacred"]).exists()
    # The masters' private metadata (EXIF and GPS of the photograph, the texture's EXIF, the
    # recording's tags) stays behind.
    for path in built.site.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for private in (MEDIA_CANARY, MODEL_CANARY, "private photographer"):
                assert private.encode() not in data, (path, private)
    photo = Image.open(built.site / "items" / built.ids["photo"] / "files" / "image.jpg")
    assert dict(photo.getexif()) == {} and photo.size == (480, 320)


def _faces(glb: Path) -> int:
    scene: Any = trimesh.load(glb, file_type="glb", force="scene")
    return sum(len(geometry.faces) for geometry in scene.geometry.values())


def test_the_specs_face_budgets_reach_each_model(built: Built) -> None:
    # The spec's [models] table and the bunny's own entry, through the CLI: the bunny's master
    # (3,674 faces) is simplified to its budget, the teapot (992) is under the exhibit's and
    # kept whole; the proofs record the budget each was made with.
    items = proofs(built)["items"]
    budgets: dict[str, tuple[int, set[int]]] = {}
    for name in ("bunny", "teapot"):
        glb = built.site / "items" / built.ids[name] / "files" / "model.glb"
        budgets[name] = (
            _faces(glb),
            {d["settings"]["face_budget"] for d in items[built.ids[name]]["derivations"]},
        )
    bunny_faces, bunny_settings = budgets["bunny"]
    assert BUNNY_FACE_BUDGET // 2 < bunny_faces <= BUNNY_FACE_BUDGET
    assert bunny_settings == {BUNNY_FACE_BUDGET}
    teapot_faces, teapot_settings = budgets["teapot"]
    assert teapot_faces == 992
    assert teapot_settings == {FACE_BUDGET}


#: Warnings that say only that the machine is slow, not that anything is wrong: model-viewer
#: 4.4 waits 500 ms for two animation frames after a model loads and logs this when they come
#: later (they do, on a loaded two-core machine rendering through SwiftShader); it then goes on.
TIMING_WARNINGS = frozenset({"rAF timed out in updateSource"})


def open_page(page: Page, origin: str, path: str) -> tuple[Watch, list[str]]:
    """The page at ``path``, watched; and the warnings its console logs (none expected: a
    warning is a deprecation or a misuse that the next library update turns into an error)."""
    watch = Watch.on(page, origin)
    warnings: list[str] = []
    page.on(
        "console",
        lambda m: (
            warnings.append(m.text)
            if m.type == "warning" and m.text not in TIMING_WARNINGS
            else None
        ),
    )
    response = page.goto(f"{origin}/{path}")
    assert response is not None and response.status == 200, path
    return watch, warnings


def test_the_gallery_draws(page: Page, built: Built, origin: str) -> None:
    watch, warnings = open_page(page, origin, "")
    page.wait_for_selector('#gallery[data-state="ready"][data-pending="0"]', timeout=0)
    assert page.evaluate("window.heritageGallery.spinning.length") == 2, "two models on plinths"
    placed = page.evaluate(
        "[...new Set(window.heritageGallery.clickable.map((o) => o.userData.entry.id))]"
    )
    assert sorted(placed) == sorted(built.ids[n] for n in NAMES)
    playable = page.evaluate(
        "window.heritageGallery.clickable.filter((o) => o.userData.action === 'play')"
        ".map((o) => o.userData.entry.id)"
    )
    assert set(playable) == {built.ids["waiata"]}, "the recording is a sound object"
    page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    canvas = Image.open(io.BytesIO(screenshot(page, "built-gallery", "#gallery canvas")))
    colours = canvas.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "a blank or flat canvas"
    assert max(count for count, _ in colours) < 0.9 * canvas.width * canvas.height
    listed = page.eval_on_selector_all(
        "#item-list li[data-item]", "(rows) => rows.map((r) => r.dataset.item)"
    )
    assert sorted(listed) == sorted(built.ids[n] for n in NAMES)
    keep_screenshot(page, "built-index")
    # The favicon comes from the site itself.
    icon = page.evaluate(
        "fetch(document.querySelector('link[rel=icon]').href)"
        ".then((r) => [r.url, r.status, r.headers.get('content-type')])"
    )
    assert icon == [f"{origin}/favicon.svg", 200, "image/svg+xml"]
    # The search finds a title in the second language, over the built search.json.
    page.wait_for_selector('#search[data-ready="true"]', timeout=0)
    page.fill("#search-text", "rapeti")
    shown = page.eval_on_selector_all(
        "#item-list li[data-item]",
        "(rows) => rows.filter((r) => !r.hidden).map((r) => r.dataset.item)",
    )
    assert shown == [built.ids["bunny"]]
    watch.assert_clean()
    assert warnings == []


def click_verify(page: Page) -> tuple[str, str]:
    page.evaluate("document.getElementById('verify-result').removeAttribute('data-status')")
    page.click("#verify")
    page.wait_for_selector("#verify-result[data-status]", timeout=0)
    return (
        page.get_attribute("#verify-result", "data-status") or "",
        page.inner_text("#verify-result"),
    )


_MODEL_LOADED = """window.__loaded = [];
document.addEventListener('load', (event) => {
  if (event.target && event.target.localName === 'model-viewer')
    window.__loaded.push(new URL(event.target.src, location.href).href);
}, true);"""


@pytest.mark.parametrize("name", list(KINDS))
def test_an_item_page(page: Page, built: Built, origin: str, name: str) -> None:
    item = built.ids[name]
    kind = KINDS[name]
    page.add_init_script(_MODEL_LOADED)
    watch, warnings = open_page(page, origin, f"items/{item}/")
    files = f"{origin}/items/{item}/files/"
    if kind == "model":
        page.wait_for_function("() => window.__loaded.length > 0", timeout=0)
        assert page.evaluate("window.__loaded") == [files + "model.glb"]
        locations = page.evaluate("""() => { const M = customElements.get('model-viewer');
          return [M.dracoDecoderLocation, M.ktx2TranscoderLocation, M.meshoptDecoderLocation,
                  M.lottieLoaderLocation]; }""")
        assert all(at.startswith(f"{origin}/assets/vendor/") for at in locations), locations
        page.wait_for_timeout(300)  # the first frame reaches the canvas
    elif kind == "image":
        page.wait_for_function(
            "() => { const i = document.getElementById('viewer');"
            " return i.complete && i.naturalWidth > 0; }",
            timeout=0,
        )
        assert page.evaluate("document.getElementById('viewer').currentSrc") == files + "image.jpg"
        assert page.evaluate("document.getElementById('viewer').naturalWidth") == 480
    elif kind == "audio":
        page.wait_for_function("() => document.getElementById('viewer').readyState >= 1", timeout=0)
        duration = page.evaluate("document.getElementById('viewer').duration")
        assert duration == pytest.approx(2.0, abs=0.1)
    else:
        page.wait_for_function(
            "() => { const i = document.getElementById('viewer');"
            " return i.complete && i.naturalWidth > 0; }",
            timeout=0,
        )
        assert page.evaluate("document.getElementById('viewer').currentSrc") == (
            files + "poster.png"
        )
    # The page speaks the second language when asked.
    page.select_option("#language", "mi")
    assert page.is_visible("[data-lang=mi]") and not page.is_visible("[data-lang=en]")
    page.select_option("#language", "en")
    keep_screenshot(page, f"built-{name}")
    status, text = click_verify(page)
    assert status == "verified", text
    listed = [f["name"] for f in proofs(built)["items"][item]["files"]]
    assert sorted(line.split(":")[0] for line in text.splitlines()) == sorted(listed)
    if name == "teapot":
        served = built.site / "items" / item / "files" / "model.glb"
        original = served.read_bytes()
        changed = bytearray(original)
        changed[len(changed) // 2] ^= 0x01
        try:
            served.write_bytes(bytes(changed))
            status, text = click_verify(page)
        finally:
            served.write_bytes(original)
        assert status == "mismatch", text
        assert "model.glb: mismatch" in text and "poster.png: verified" in text
        keep_screenshot(page, "built-teapot-mismatch")
    watch.assert_clean()
    assert warnings == []


def test_the_excluded_item_has_no_page(page: Page, built: Built, origin: str) -> None:
    for path in (f"items/{built.ids['sacred']}/", f"items/{built.cids['sacred']}/"):
        response = page.goto(f"{origin}/{path}")
        assert response is not None and response.status == 404, path


def test_every_glb_passes_the_khronos_validator(built: Built, tmp_path: Path) -> None:
    glbs = {path.parent.parent.name: path.read_bytes() for path in built.site.rglob("*.glb")}
    assert sorted(glbs) == sorted(built.ids[n] for n in ("bunny", "teapot"))
    for name, report in validate(glbs, tmp_path).items():
        assert report["errors"] == 0, (name, report["messages"])


def test_a_file_derived_from_a_cidv0_registration_verifies(built: Built) -> None:
    # The letter was registered as CIDv0; its poster is derived from the same bytes, and the
    # proofs tie it to that registered CID, so the verifier follows it to the claim.
    assert built.cids["letter"].startswith("Qm")
    letter = proofs(built)["items"][built.ids["letter"]]
    assert {record["master"] for record in letter["derivations"]} == {built.cids["letter"]}
    served = built.site / "items" / built.ids["letter"] / "files" / "poster.png"
    proc = built.run("verify", str(served), "--proofs", str(built.site / "proofs.json"), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == "verified-derivative"
    assert report["master_cid"] == built.cids["letter"]


def test_heritage_verify_judges_a_served_glb(built: Built) -> None:
    served = built.site / "items" / built.ids["bunny"] / "files" / "model.glb"
    proofs_file = str(built.site / "proofs.json")
    proc = built.run("verify", str(served), "--proofs", proofs_file, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == "verified-derivative"
    assert report["item"] == built.ids["bunny"] and report["master_cid"] == built.cids["bunny"]
    original = served.read_bytes()
    changed = bytearray(original)
    changed[len(changed) // 3] ^= 0x80
    try:
        served.write_bytes(bytes(changed))
        proc = built.run("verify", str(served), "--proofs", proofs_file, "--json")
    finally:
        served.write_bytes(original)
    assert proc.returncode == 12, proc.stderr
    assert json.loads(proc.stdout)["status"] == "mismatch"


def test_the_preview_holds_one_object_per_shown_item(built: Built) -> None:
    from exhibits import preview

    settings = load_settings(
        env={},
        data_dir=built.data,
        rpc_url=built.env["HERITAGE_RPC_URL"],
        deployment=Path(built.env["HERITAGE_DEPLOYMENT"]),
        fsync=False,
    )
    scene = preview(load_spec(built.spec), settings=settings)
    named = [child.name for child in scene.children if child.name.startswith("0x")]
    assert sorted(named) == sorted(built.ids[n] for n in NAMES)
    # In a notebook the settings come from the environment, as for the CLI.
    with isolated_environment(built.env):
        again = preview(load_spec(built.spec))
    assert sorted(c.name for c in again.children if c.name.startswith("0x")) == sorted(named)
    kinds = {
        child.name: [part.name for part in child.children]
        for child in scene.children
        if child.name.startswith("0x")
    }
    for name, kind in KINDS.items():
        parts = kinds[built.ids[name]]
        assert parts == (["plinth", "model"] if kind == "model" else [kind]), (name, parts)


def test_verify_outside_a_secure_context(page: Page, built: Built, origin: str) -> None:
    # By a host name that is not localhost the page is no secure context: no WebCrypto, the
    # bundled SHA-256 instead. The teapot's poster is over one 256 KiB chunk, so its CID is a
    # UnixFS tree over two raw leaves.
    insecure = origin.replace("127.0.0.1", INSECURE_HOST)
    watch, warnings = open_page(page, insecure, f"items/{built.ids['letter']}/")
    assert page.evaluate("window.isSecureContext") is False
    teapot = built.ids["teapot"]
    sizes = {f["name"]: f["size"] for f in proofs(built)["items"][teapot]["files"]}
    assert sizes["poster.png"] > 262144
    page.evaluate(f"document.getElementById('verify').dataset.item = '{teapot}'")
    status, text = click_verify(page)
    assert status == "verified", text
    assert sorted(line.split(":")[0] for line in text.splitlines()) == sorted(sizes)
    watch.assert_clean()
    assert warnings == []
