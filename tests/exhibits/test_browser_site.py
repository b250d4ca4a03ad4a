"""The site's scripts in a real browser (Debian's chromium, WebGL through SwiftShader), over a
small site this module writes by hand after the DOM contract (index.html with its import map,
a model page with <model-viewer> and a real GLB, an image page, gallery.json, search.json and
proofs.json with the CIDs ``heritage cid`` gives), under the site's strict CSP:

the gallery canvas draws the room and the image panel; model-viewer fires ``load`` with its
decoders pointed at the site; the verify button says verified, then mismatch once one byte of a
served file changes, in a secure context (WebCrypto) and in one that is not (sha256.js); search
and filters hide the right list entries; the language switcher switches and remembers; and no
page logs an error, breaks its CSP or asks anything of another origin. Screenshots land in
build/test-artifacts/.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import re
import struct
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trimesh
from PIL import Image
from playwright.sync_api import BrowserContext, Page

from exhibits.derive.records import file_cid
from exhibits.layout import GalleryEntry, gallery_document
from exhibits.site.assets import VENDOR_STYLE_HASHES, copy_assets
from tests.browser_support import (
    INSECURE_HOST,
    StaticServer,
    Watch,
    keep_screenshot,
    launch,
    screenshot,
)

MODEL = "0x" + "ab" * 32
IMAGE = "0x" + "cd" * 32
AUDIO = "0x" + "ef" * 32
VIDEO = "0x" + "5a" * 32  # an item page with a video player (not in the gallery or proofs)
GONE = "0x" + "99" * 32  # in proofs.json, its files not served

IMPORT_MAP = json.dumps(
    {
        "imports": {
            "three": "./assets/vendor/three/three.module.js",
            "three/addons/": "./assets/vendor/three/addons/",
        }
    }
)


def source_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def policy(inline_scripts: list[str], styles: tuple[str, ...] = VENDOR_STYLE_HASHES) -> str:
    scripts = " ".join(source_hash(s) for s in inline_scripts)
    return (
        f"default-src 'none'; script-src 'self' {scripts} 'wasm-unsafe-eval'; "
        f"style-src 'self' {' '.join(styles)}; img-src 'self' data: blob:; "
        "media-src 'self' data: blob:; connect-src 'self' data: blob:; "
        "worker-src 'self' blob:; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
        "form-action 'none'"
    )


def page_html(
    root: str,
    title: str,
    body: str,
    scripts: list[str],
    *,
    head: str = "",
    inline: list[str] | None = None,
    styles: tuple[str, ...] = VENDOR_STYLE_HASHES,
) -> str:
    ld = json.dumps({"@context": "https://schema.org", "@type": "WebPage", "name": title})
    inline_scripts = [ld, *(inline or [])]
    tags = "\n".join(f'<script type="module" src="{root}{s}"></script>' for s in scripts)
    return f"""<!doctype html>
<html lang="en"><head>
<meta http-equiv="Content-Security-Policy" content="{policy(inline_scripts, styles)}">
<meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title>
<link rel="icon" href="{root}favicon.svg">
<link rel="stylesheet" href="{root}assets/site.css">
<script type="application/ld+json">{ld}</script>
{head}
</head><body>
{body}
{tags}
</body></html>
"""


def model_glb() -> bytes:
    mesh = trimesh.creation.icosphere(subdivisions=2, radius=0.4)
    mesh.visual.vertex_colors = [40, 120, 200, 255]
    data = trimesh.Scene(mesh).export(file_type="glb")  # type: ignore[no-untyped-call]
    assert isinstance(data, bytes)
    return data


def png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    image = Image.new("RGB", (width, height), colour)
    for x in range(0, width, 8):
        for y in range(height // 3, height // 3 + 6):
            image.putpixel((x, y), (20, 20, 160))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def write(root: Path, relative: str, data: bytes | str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def file_entry(item: str, name: str, data: bytes, media_type: str) -> dict[str, Any]:
    return {
        "path": f"items/{item}/files/{name}",
        "name": name,
        "cid": str(file_cid(data)),
        "size": len(data),
        "media_type": media_type,
        "import": {
            "cid_version": 1,
            "raw_leaves": True,
            "chunk_size": 262144,
            "hash": "sha2-256",
            "layout": "balanced",
            "max_links": 174,
        },
    }


def wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * n / 8000)))
                for n in range(4000)
            )
        )
    return out.getvalue()


def build_site(root: Path) -> None:
    copy_assets(root)
    write(
        root,
        "assets/site.css",
        "#gallery { width: 800px; height: 450px; }\n"
        "model-viewer { width: 480px; height: 360px; }\n",
    )
    write(
        root,
        "favicon.svg",
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
        '<rect width="16" height="16" fill="#7a4"/></svg>',
    )
    glb, poster, image = model_glb(), png(64, 64, (200, 200, 200)), png(400, 300, (220, 30, 30))
    files = {
        MODEL: [("model.glb", glb, "model/gltf-binary"), ("poster.png", poster, "image/png")],
        IMAGE: [
            ("image.png", image, "image/png"),
            ("thumbnail.png", png(40, 30, (220, 30, 30)), "image/png"),
        ],
    }
    for item, item_files in files.items():
        for name, data, _ in item_files:
            write(root, f"items/{item}/files/{name}", data)
    # A recording: a sound object in the gallery (not in proofs.json or the list: the gallery
    # tests need it only).
    write(root, f"items/{AUDIO}/files/audio.wav", wav())
    write(root, f"items/{AUDIO}/files/poster.png", png(64, 64, (30, 160, 60)))
    # A video as the build serves it: a WebM (VP8, Opus) master through the real deriver.
    from exhibits.derive.media import derive_recording
    from tests.exhibits.media_support import Recipe, make_recording

    video = derive_recording(make_recording(Recipe("webm", "webm", "libopus", "libvpx")))
    assert (video.kind, video.media.name) == ("video", "video.webm")
    write(root, f"items/{VIDEO}/files/video.webm", video.media.data)
    write(root, f"items/{VIDEO}/files/{video.poster.name}", video.poster.data)
    write(
        root,
        f"items/{VIDEO}/index.html",
        page_html(
            "../../",
            "Haka",
            '<figure class="viewer"><video id="viewer" controls src="files/video.webm" '
            f'poster="files/{video.poster.name}" preload="metadata">A haka</video></figure>',
            ["assets/app/item.js"],
        ),
    )
    write(
        root,
        "proofs.json",
        json.dumps(
            {
                "type": "heritage/exhibit-proofs",
                "version": 1,
                "chain": {"chain_id": 31337, "registry": "0x" + "11" * 20},
                "built_at": "2026-12-03T00:00:00Z",
                "items": {
                    **{
                        item: {"files": [file_entry(item, *f) for f in fs]}
                        for item, fs in files.items()
                    },
                    GONE: {
                        "files": [
                            file_entry(GONE, "image.png", image, "image/png"),
                            {
                                **file_entry(IMAGE, "image.png", image, "image/png"),
                                "name": "legacy.png",
                                "import": {"cid_version": 0, "raw_leaves": False},
                            },
                        ]
                    },
                },
            }
        ),
    )
    entries = [
        GalleryEntry(
            MODEL,
            "model",
            "Carved canoe prow",
            f"items/{MODEL}/",
            f"items/{MODEL}/files/model.glb",
            f"items/{MODEL}/files/poster.png",
            None,
            64,
            64,
        ),
        GalleryEntry(
            IMAGE,
            "image",
            "Hōkioi feather cloak",
            f"items/{IMAGE}/",
            None,
            f"items/{IMAGE}/files/image.png",
            None,
            400,
            300,
        ),
        GalleryEntry(
            AUDIO,
            "audio",
            "Waiata",
            f"items/{AUDIO}/",
            None,
            f"items/{AUDIO}/files/poster.png",
            f"items/{AUDIO}/files/audio.wav",
            64,
            64,
        ),
    ]
    write(root, "gallery.json", json.dumps(gallery_document("Voices", "gallery", (), entries)))
    write(
        root,
        "search.json",
        json.dumps(
            {
                "languages": ["en", "mi"],
                "items": [
                    {
                        "id": MODEL,
                        "href": f"items/{MODEL}/",
                        "title": {"en": "Carved canoe prow", "mi": "Tauihu waka"},
                        "description": {"en": "Kauri wood, carved in Rotorua."},
                        "subjects": ["carving", "waka"],
                        "place": "Rotorua",
                        "date": "1905",
                        "era": "1900s",
                        "kind": "model",
                    },
                    {
                        "id": IMAGE,
                        "href": f"items/{IMAGE}/",
                        "title": {"en": "Hōkioi feather cloak", "mi": "Kahu huruhuru"},
                        "description": {"en": "Woven flax and feathers."},
                        "subjects": ["weaving"],
                        "place": "Ōtaki",
                        "date": "about 1850",
                        "era": "1850s",
                        "kind": "image",
                    },
                ],
            }
        ),
    )

    def options(name: str, values: list[str]) -> str:
        return (
            f'<select id="{name}"><option value="">all</option>'
            + "".join(f'<option value="{v}">{v}</option>' for v in values)
            + "</select>"
        )

    index_body = f"""<h1>Voices</h1>
<div id="gallery" data-gallery="gallery.json" data-theme="gallery"></div>
<div id="xr-buttons"></div>
<form id="search" role="search"><input id="search-text" type="search" aria-label="Search">
{options("filter-subject", ["carving", "waka", "weaving"])}
{options("filter-place", ["Rotorua", "Ōtaki"])}
{options("filter-era", ["1850s", "1900s"])}</form>
<p id="search-count" aria-live="polite"></p>
<ul id="item-list">
<li data-item="{MODEL}"><a href="items/{MODEL}/">Carved canoe prow</a></li>
<li data-item="{IMAGE}"><a href="items/{IMAGE}/">Hōkioi feather cloak</a></li>
</ul>"""
    write(
        root,
        "index.html",
        page_html(
            "",
            "Voices",
            index_body,
            ["assets/app/gallery.js", "assets/app/search.js"],
            head=f'<script type="importmap">{IMPORT_MAP}</script>',
            inline=[IMPORT_MAP],
        ),
    )
    verify = (
        '<button id="verify" type="button" data-proofs="../../proofs.json" data-item="{id}">'
        'Verify</button><output id="verify-result" aria-live="polite"></output>'
    )
    languages = """<select id="language" aria-label="Language"><option value="en">English</option>
<option value="mi">Māori</option></select>
<div class="l10n" data-lang="en" lang="en"><h1>{en}</h1></div>
<div class="l10n" data-lang="mi" lang="mi" hidden><h1>{mi}</h1></div>"""
    model_body = f"""{languages.format(en="Carved canoe prow", mi="Tauihu waka")}
<model-viewer id="viewer" src="files/model.glb" poster="files/poster.png" alt="A blue sphere"
 camera-controls ar ar-modes="webxr quick-look"></model-viewer>
{verify.format(id=MODEL)}"""
    model_scripts = [
        "assets/app/mv-config.js",
        "assets/vendor/model-viewer/model-viewer.min.js",
        "assets/app/verify.js",
        "assets/app/item.js",
    ]
    write(
        root,
        f"items/{MODEL}/index.html",
        page_html("../../", "Carved canoe prow", model_body, model_scripts),
    )
    # The same page under a policy without model-viewer's style hash: the violation the hash
    # prevents (this proves the watch sees CSP violations at all).
    write(
        root,
        f"items/{MODEL}/nohash.html",
        page_html("../../", "Carved canoe prow", model_body, model_scripts, styles=()),
    )
    image_body = f"""{languages.format(en="Hōkioi feather cloak", mi="Kahu huruhuru")}
<img id="viewer" src="files/image.png" alt="A red cloak" width="400" height="300">
{verify.format(id=IMAGE)}"""
    write(
        root,
        f"items/{IMAGE}/index.html",
        page_html(
            "../../",
            "Hōkioi feather cloak",
            image_body,
            ["assets/app/verify.js", "assets/app/item.js"],
        ),
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, StaticServer]]:
    root = tmp_path_factory.mktemp("site")
    build_site(root)
    server = StaticServer(root)
    try:
        yield root, server
    finally:
        server.close()


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


def open_page(page: Page, server: StaticServer, path: str, *, host: str = "127.0.0.1") -> Watch:
    watch = Watch.on(page, server.origin, f"http://{INSECURE_HOST}:{server.port}")
    page.goto(server.url(path, host=host))
    return watch


def test_gallery_draws_the_room_and_the_image_panel(
    page: Page, site: tuple[Path, StaticServer]
) -> None:
    _, server = site
    watch = open_page(page, server, "index.html")
    page.wait_for_selector('#gallery[data-state="ready"][data-pending="0"]', timeout=0)
    assert page.evaluate("window.heritageGallery.spinning.length") == 1, (
        "the GLB stands on its plinth"
    )
    page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    pixels = Image.open(io.BytesIO(screenshot(page, "gallery", "#gallery canvas"))).convert("RGB")
    colours: list[tuple[int, tuple[int, int, int]]] | None = pixels.getcolors(maxcolors=1 << 20)  # type: ignore[assignment]
    assert colours is not None
    assert len(colours) > 50, "a blank or flat canvas"
    assert max(count for count, _ in colours) < 0.9 * pixels.width * pixels.height
    red = sum(count for count, (r, g, b) in colours if r > 170 and g < 80 and b < 80)
    assert red > 500, "the image panel's texture is not drawn"
    # The XR buttons appear only where the browser offers immersive sessions (not here).
    assert page.locator("#xr-buttons > *").count() == 0
    watch.assert_clean()


def test_gallery_click_opens_the_item_page(page: Page, site: tuple[Path, StaticServer]) -> None:
    _, server = site
    watch = open_page(page, server, "index.html")
    page.wait_for_selector('#gallery[data-state="ready"][data-pending="0"]', timeout=0)
    # Project the image panel's centre to the canvas and click there.
    x, y = page.evaluate("""() => {
      const g = window.heritageGallery;
      const panel = g.clickable.find(
        (o) => o.userData.entry.kind === 'image' && o.userData.material);
      const v = panel.getWorldPosition(panel.position.clone()).project(g.camera);
      const r = g.renderer.domElement.getBoundingClientRect();
      return [r.left + (v.x + 1) / 2 * r.width, r.top + (1 - v.y) / 2 * r.height];
    }""")
    page.mouse.click(x, y)
    page.wait_for_url(re.compile(f"items/{IMAGE}/$"), timeout=0)
    watch.assert_clean()


def test_keyboard_walks_and_stays_inside(page: Page, site: tuple[Path, StaticServer]) -> None:
    _, server = site
    page.emulate_media(reduced_motion="reduce")
    watch = open_page(page, server, "index.html")
    page.wait_for_selector('#gallery[data-state="ready"][data-pending="0"]', timeout=0)
    page.wait_for_timeout(200)
    # Under reduced motion the models stand still.
    assert page.evaluate("window.heritageGallery.spinning.map((h) => h.rotation.y)") == [0]
    page.focus("#gallery canvas")
    start = page.evaluate(
        "(window.heritageGallery.yaw = 0, window.heritageGallery.camera.position.z)"
    )
    page.keyboard.press("ArrowUp")
    assert page.evaluate("window.heritageGallery.camera.position.z") == pytest.approx(start - 1)
    for _ in range(20):
        page.keyboard.press("w")
    assert page.evaluate("window.heritageGallery.camera.position.z") == pytest.approx(0.35)
    watch.assert_clean()


def test_model_viewer_loads_from_the_site(page: Page, site: tuple[Path, StaticServer]) -> None:
    _, server = site
    page.add_init_script("""window.__loaded = false; document.addEventListener('load', (e) => {
      if (e.target && e.target.localName === 'model-viewer') window.__loaded = true; }, true);""")
    watch = open_page(page, server, f"items/{MODEL}/")
    page.wait_for_function("() => window.__loaded === true", timeout=0)
    locations = page.evaluate("""() => { const M = customElements.get('model-viewer');
      return [M.dracoDecoderLocation, M.ktx2TranscoderLocation, M.meshoptDecoderLocation,
              M.lottieLoaderLocation]; }""")
    assert all(location.startswith(server.url("assets/vendor/")) for location in locations), (
        locations
    )
    page.wait_for_timeout(300)  # let the first frame reach the canvas
    keep_screenshot(page, "model-page")
    status, text = click_verify(page)
    assert status == "verified", text
    assert "model.glb: verified" in text and "poster.png: verified" in text
    watch.assert_clean()


def test_without_the_style_hash_model_viewer_breaks_the_policy(
    page: Page, site: tuple[Path, StaticServer]
) -> None:
    _, server = site
    watch = open_page(page, server, f"items/{MODEL}/nohash.html")
    page.wait_for_function("() => customElements.get('model-viewer') !== undefined", timeout=0)
    page.wait_for_timeout(200)
    watch.collect()
    assert any("style" in v for v in watch.csp_violations), watch.csp_violations


def click_verify(page: Page) -> tuple[str, str]:
    page.evaluate("document.getElementById('verify-result').removeAttribute('data-status')")
    page.click("#verify")
    page.wait_for_selector("#verify-result[data-status]", timeout=0)
    return (
        page.get_attribute("#verify-result", "data-status") or "",
        page.inner_text("#verify-result"),
    )


@pytest.mark.parametrize("host", ["127.0.0.1", INSECURE_HOST])
def test_verify_then_mismatch_after_one_byte_changes(
    page: Page, site: tuple[Path, StaticServer], host: str
) -> None:
    root, server = site
    watch = open_page(page, server, f"items/{IMAGE}/", host=host)
    assert page.evaluate("window.isSecureContext") is (host == "127.0.0.1")
    status, text = click_verify(page)
    assert status == "verified", text
    assert "image.png: verified" in text and "thumbnail.png: verified" in text
    served = root / "items" / IMAGE / "files" / "image.png"
    original = served.read_bytes()
    try:
        changed = bytearray(original)
        changed[len(changed) // 2] ^= 0x01
        served.write_bytes(bytes(changed))
        status, text = click_verify(page)
        assert status == "mismatch", text
        assert "image.png: mismatch" in text and "thumbnail.png: verified" in text
    finally:
        served.write_bytes(original)
    keep_screenshot(page, f"verify-{host}")
    watch.assert_clean()


def test_verify_says_it_in_words(page: Page, site: tuple[Path, StaticServer]) -> None:
    _, server = site
    watch = open_page(page, server, f"items/{IMAGE}/")
    status, text = click_verify(page)
    assert status == "verified"
    assert text.splitlines() == [
        "image.png: verified: the served file has the CID recorded in the proofs",
        "thumbnail.png: verified: the served file has the CID recorded in the proofs",
    ]
    keep_screenshot(page, "image-page")
    watch.assert_clean()


def visible_items(page: Page) -> list[str]:
    return page.eval_on_selector_all(  # type: ignore[no-any-return]
        "#item-list li[data-item]",
        "(rows) => rows.filter((r) => !r.hidden).map((r) => r.dataset.item)",
    )


def test_search_and_filters(page: Page, site: tuple[Path, StaticServer]) -> None:
    _, server = site
    watch = open_page(page, server, "index.html")
    page.wait_for_selector('#search[data-ready="true"]', timeout=0)
    assert visible_items(page) == [MODEL, IMAGE]
    assert page.inner_text("#search-count") == "2 items"
    page.fill("#search-text", "HOKIOI")  # accents and case fold away
    assert visible_items(page) == [IMAGE]
    assert page.inner_text("#search-count") == "1 of 2 items match"
    page.fill("#search-text", "tauihu")  # a title in another language
    assert visible_items(page) == [MODEL]
    page.fill("#search-text", "rotorua kauri")  # place and description, every word
    assert visible_items(page) == [MODEL]
    page.fill("#search-text", "rotorua flax")
    assert visible_items(page) == []
    page.fill("#search-text", "")
    page.select_option("#filter-subject", "weaving")
    assert visible_items(page) == [IMAGE]
    page.select_option("#filter-subject", "")
    page.select_option("#filter-era", "1900s")
    assert visible_items(page) == [MODEL]
    page.select_option("#filter-place", "Ōtaki")
    assert visible_items(page) == []
    assert page.inner_text("#search-count") == "0 of 2 items match"
    page.press("#search-text", "Enter")  # the form never submits (form-action 'none')
    watch.assert_clean()


def test_language_switcher_switches_and_remembers(
    page: Page, site: tuple[Path, StaticServer]
) -> None:
    _, server = site
    watch = open_page(page, server, f"items/{IMAGE}/")
    assert page.is_visible("[data-lang=en]") and not page.is_visible("[data-lang=mi]")
    page.select_option("#language", "mi")
    assert page.is_visible("[data-lang=mi]") and not page.is_visible("[data-lang=en]")
    page.reload()
    page.wait_for_function("() => document.getElementById('language').value === 'mi'", timeout=0)
    assert page.is_visible("[data-lang=mi]") and not page.is_visible("[data-lang=en]")
    page.select_option("#language", "en")
    watch.assert_clean()


def test_a_recording_plays_on_click_and_never_by_itself(
    page: Page, site: tuple[Path, StaticServer]
) -> None:
    _, server = site
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    watch = open_page(page, server, "index.html")
    page.wait_for_selector('#gallery[data-state="ready"][data-pending="0"]', timeout=0)
    page.wait_for_timeout(300)
    assert not any(url.endswith("audio.wav") for url in asked), "nothing loads before a click"
    # Stand in front of the sound object (on the south wall) and click it.
    x, y = page.evaluate(
        """() => {
      const g = window.heritageGallery;
      const panel = g.clickable.find((o) => o.userData.action === 'play' && o.userData.material);
      const at = panel.getWorldPosition(panel.position.clone());
      g.camera.position.set(at.x, 1.6, at.z - 3);
      g.yaw = Math.PI;
      g.pitch = 0;
      g.camera.rotation.set(0, Math.PI, 0);
      g.camera.updateMatrixWorld();
      const v = at.project(g.camera);
      const r = g.renderer.domElement.getBoundingClientRect();
      return [r.left + (v.x + 1) / 2 * r.width, r.top + (1 - v.y) / 2 * r.height];
    }"""
    )
    page.mouse.click(x, y)
    page.wait_for_function(
        f"() => window.heritageGallery.media.get('{AUDIO}')?.paused === false", timeout=0
    )
    assert page.url == server.url("index.html"), "a recording plays where it is"
    page.mouse.click(x, y)
    page.wait_for_function(
        f"() => window.heritageGallery.media.get('{AUDIO}').paused === true", timeout=0
    )
    keep_screenshot(page, "gallery-sound")
    watch.assert_clean()


def test_a_video_item_plays_in_its_page(page: Page, site: tuple[Path, StaticServer]) -> None:
    _, server = site
    watch = open_page(page, server, f"items/{VIDEO}/index.html")
    page.wait_for_function(
        "() => document.getElementById('viewer').readyState >= 1", timeout=0
    )  # its metadata read: a video of one second
    assert page.evaluate("document.getElementById('viewer').duration") > 0.5
    # Muted, as a visitor's own click would (no autoplay: the page starts nothing itself).
    assert page.evaluate("document.getElementById('viewer').paused") is True
    page.evaluate("() => { const v = document.getElementById('viewer'); v.muted = true; "
                  "return v.play(); }")  # fmt: skip
    page.wait_for_function(
        "() => { const v = document.getElementById('viewer'); "
        "return v.readyState >= 2 && v.currentTime > 0; }",
        timeout=0,
    )
    screenshot(page, "video-item")
    watch.assert_clean()


def test_without_webgl_the_list_stays(page: Page, site: tuple[Path, StaticServer]) -> None:
    _, server = site
    page.add_init_script(
        """const getContext = HTMLCanvasElement.prototype.getContext;
    HTMLCanvasElement.prototype.getContext = function (type, ...rest) {
      return /webgl/.test(type) ? null : getContext.call(this, type, ...rest);
    };"""
    )
    watch = open_page(page, server, "index.html")
    page.wait_for_selector('#gallery[data-state="unavailable"]', timeout=0)
    assert page.locator("#gallery canvas").count() == 0
    assert page.locator("#item-list a").count() == 2
    assert page.is_visible(f'#item-list a[href="items/{MODEL}/"]')
    watch.assert_clean()


def test_xr_buttons_only_for_the_modes_offered(page: Page, site: tuple[Path, StaticServer]) -> None:
    _, server = site
    # A headset is outside this machine: the page is told that immersive VR is supported and
    # immersive AR is not (navigator.xr stands in for the device's runtime).
    page.add_init_script(
        """Object.defineProperty(navigator, 'xr', { configurable: true, value: {
      isSessionSupported: async (mode) => mode === 'immersive-vr',
      requestSession: async () => { throw new Error('no headset'); },
      addEventListener() {}, removeEventListener() {},
    } });"""
    )
    watch = open_page(page, server, "index.html")
    page.wait_for_selector("#xr-buttons button", timeout=0)
    page.wait_for_function(
        "() => document.querySelector('#xr-buttons button').textContent === 'ENTER VR'",
        timeout=0,
    )
    assert page.locator("#xr-buttons > *").count() == 1
    watch.assert_clean()


def test_verify_says_what_it_could_not_check(page: Page, site: tuple[Path, StaticServer]) -> None:
    _, server = site
    watch = open_page(page, server, f"items/{IMAGE}/")
    page.evaluate(f"document.getElementById('verify').dataset.item = '{GONE}'")
    status, text = click_verify(page)
    assert status == "mismatch"
    assert text.splitlines() == [
        "image.png: missing: the file could not be fetched",
        "legacy.png: not checked: its import settings cannot be recomputed in this page",
    ]
    page.evaluate("document.getElementById('verify').dataset.item = '0xabsent'")
    status, text = click_verify(page)
    assert (status, text.strip()) == (
        "error",
        "could not verify: proofs.json has no entry for this item",
    )
    # The one failed request is the missing file itself.
    assert watch.failed_requests == [server.url(f"items/{GONE}/files/image.png") + ": HTTP 404"]
    assert watch.console_errors == [
        "Failed to load resource: the server responded with a status of 404 (File not found)"
    ]
    watch.failed_requests.clear()
    watch.console_errors.clear()
    watch.assert_clean()


def test_touch_drag_turns_and_walks(page: Page, site: tuple[Path, StaticServer]) -> None:
    _, server = site
    watch = open_page(page, server, "index.html")
    page.wait_for_selector('#gallery[data-state="ready"]', timeout=0)
    before = page.evaluate(
        "(() => { const g = window.heritageGallery; g.yaw = 0;"
        " return [g.camera.position.z, g.yaw]; })()"
    )
    page.evaluate(
        """() => {
      const canvas = document.querySelector('#gallery canvas');
      const r = canvas.getBoundingClientRect();
      const at = (type, x, y) => canvas.dispatchEvent(new PointerEvent(type, {
        pointerId: 7, pointerType: 'touch', isPrimary: true, bubbles: true,
        clientX: r.left + x, clientY: r.top + y }));
      at('pointerdown', 400, 200);
      at('pointermove', 400, 250);  // a finger drawn down: walk forward 1 m
      at('pointermove', 440, 250);  // then right: turn
      at('pointerup', 440, 250);
    }"""
    )
    z, yaw = page.evaluate("[window.heritageGallery.camera.position.z, window.heritageGallery.yaw]")
    assert z == pytest.approx(before[0] - 1.0)
    assert yaw == pytest.approx(0.2)
    assert page.url == server.url("index.html"), "a drag is not a click"
    watch.assert_clean()
