"""The static assets a site serves: the site's own scripts and the vendored libraries.

:func:`copy_assets` writes, under ``out/assets/``:

- ``app/*.js``: the site's ES modules (exhibits/site/static/js: gallery, item, verify, sha256,
  search, mv-config), copied as they are (no build step);
- ``vendor/three/``: three.js (``three.module.js`` and ``three.core.js``) and only the addons
  the gallery imports, with the addon modules they import in turn;
- ``vendor/model-viewer/model-viewer.min.js``;
- ``vendor/draco/``, ``vendor/basis/``, ``vendor/meshopt/``: the decoders that three and
  model-viewer would otherwise fetch from outside CDNs (model-viewer is pointed at them by
  ``app/mv-config.js``).

The libraries come from the npm packages pinned in package.json, found in the ``node_modules``
folder beside the project or where ``HERITAGE_NODE_MODULES`` says.

:data:`VENDOR_STYLE_HASHES` holds the CSP source of the one style element model-viewer injects
(into its shadow root); tests/exhibits/test_browser_site.py loads a page under that policy in
Chromium and sees no violation.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Final

from ledger.errors import ConfigError

__all__ = [
    "ADDONS",
    "MODEL_VIEWER_VERSION",
    "THREE_VERSION",
    "VENDOR_STYLE_HASHES",
    "asset_files",
    "copy_assets",
    "find_node_modules",
    "model_viewer_style",
]

THREE_VERSION: Final = "0.183.2"
MODEL_VIEWER_VERSION: Final = "4.4.0"

#: CSP style-src sources ('sha256-…') for the styles the vendored libraries inject: the
#: ``<style>`` model-viewer 4.4.0 renders into each element's shadow root (its text is in
#: model-viewer.min.js; :func:`model_viewer_style` extracts it).
VENDOR_STYLE_HASHES: tuple[str, ...] = ("'sha256-PXtZZkJMMyc18o/DN1ZEFOJ2qEGq95IQbVaJFMOXOb0='",)

#: The three.js addons the site's scripts import (paths under three/examples/jsm/); the addon
#: modules these import are copied with them.
ADDONS: Final = (
    "loaders/GLTFLoader.js",
    "loaders/DRACOLoader.js",
    "loaders/KTX2Loader.js",
    "libs/meshopt_decoder.module.js",
    "webxr/VRButton.js",
    "webxr/ARButton.js",
    "environments/RoomEnvironment.js",
)
#: model-viewer loads this one by URL (mv-config.js names it) when a model uses a Lottie
#: texture; a page without an import map cannot resolve its bare ``'three'`` import, so the
#: copy imports three by relative path.
_LOTTIE: Final = "loaders/LottieLoader.js"

_APP_SCRIPTS: Final = (
    "gallery.js",
    "item.js",
    "mv-config.js",
    "search.js",
    "sha256.js",
    "verify.js",
)
_STATIC: Final = Path(__file__).parent / "static" / "js"
_IMPORT: Final = re.compile(r"""(?:\bfrom\s*|\bimport\s*\(?\s*)(['"])(\.{1,2}/[^'"]+)\1""")
_BARE_THREE: Final = re.compile(r"""(\bfrom\s*)(['"])three\2""")
_STYLE: Final = re.compile(r"<style>(.*?)</style>", re.S)


def find_node_modules() -> Path:
    """The node_modules folder: ``HERITAGE_NODE_MODULES``, else the one beside the project."""
    configured = os.environ.get("HERITAGE_NODE_MODULES")
    folder = (
        Path(configured) if configured else Path(__file__).resolve().parents[2] / "node_modules"
    )
    if (
        not (folder / "three" / "package.json").is_file()
        or not (folder / "@google" / "model-viewer" / "package.json").is_file()
    ):
        raise ConfigError(
            f"the npm packages three and @google/model-viewer are not installed in {folder}",
            hint="run `npm ci` in the project folder, or set HERITAGE_NODE_MODULES to a "
            "node_modules folder that holds them",
        )
    for package, version in (
        ("three", THREE_VERSION),
        ("@google/model-viewer", MODEL_VIEWER_VERSION),
    ):
        found = json.loads((folder / package / "package.json").read_text("utf-8")).get("version")
        if found != version:
            raise ConfigError(
                f"{folder / package} is version {found}; the site needs {package} {version}",
                hint="run `npm ci` so that node_modules matches package-lock.json",
            )
    return folder


def model_viewer_style(node_modules: Path) -> str:
    """The text of the ``<style>`` element model-viewer renders into its shadow root."""
    source = (node_modules / "@google" / "model-viewer" / "dist" / "model-viewer.min.js").read_text(
        "utf-8"
    )
    styles = _STYLE.findall(source)
    if len(styles) != 1:
        raise ConfigError(
            f"model-viewer.min.js holds {len(styles)} style elements where one was expected",
            hint=f"install @google/model-viewer {MODEL_VIEWER_VERSION} (npm ci)",
        )
    return str(styles[0])


def _addon_closure(jsm: Path) -> list[str]:
    """ADDONS and every addon module they import, by relative path, in a stable order."""
    seen: set[str] = set()
    pending = list(ADDONS)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        # Commented-out imports (three's libs keep some) are not followed.
        lines = (jsm / name).read_text("utf-8").splitlines()
        text = "\n".join(line for line in lines if not line.lstrip().startswith(("//", "*")))
        for match in _IMPORT.finditer(text):
            target = (Path(name).parent / match.group(2)).as_posix()
            pending.append(os.path.normpath(target).replace(os.sep, "/"))
    return sorted(seen)


def _put(relative: str, data: bytes, written: dict[str, bytes]) -> None:
    written[relative] = data


def copy_assets(out: Path) -> list[str]:
    """Copy every asset into ``out/assets/`` and return their paths relative to ``out``."""
    files = asset_files()
    for relative, data in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return sorted(files)


def asset_files() -> dict[str, bytes]:
    """Every asset a site holds, by path relative to the site: the same bytes for every site
    (they come from this package and the pinned npm packages, never from an item), so the
    leak scan may check them for ids only (:func:`exhibits.scan.scan`'s ``fixed``)."""
    node_modules = find_node_modules()
    three = node_modules / "three"
    jsm = three / "examples" / "jsm"
    model_viewer = node_modules / "@google" / "model-viewer"
    written: dict[str, bytes] = {}
    for name in _APP_SCRIPTS:
        _put(f"assets/app/{name}", (_STATIC / name).read_bytes(), written)
    for name in ("three.module.js", "three.core.js"):
        _put(f"assets/vendor/three/{name}", (three / "build" / name).read_bytes(), written)
    _put("assets/vendor/three/LICENSE", (three / "LICENSE").read_bytes(), written)
    for name in _addon_closure(jsm):
        _put(f"assets/vendor/three/addons/{name}", (jsm / name).read_bytes(), written)
    lottie = (jsm / _LOTTIE).read_text("utf-8")
    lottie = _BARE_THREE.sub(r"\1\2../../three.module.js\2", lottie)
    _put(f"assets/vendor/three/addons/{_LOTTIE}", lottie.encode("utf-8"), written)
    lottie_lib = "libs/lottie_canvas.module.js"
    _put(f"assets/vendor/three/addons/{lottie_lib}", (jsm / lottie_lib).read_bytes(), written)
    _put(
        "assets/vendor/model-viewer/model-viewer.min.js",
        (model_viewer / "dist" / "model-viewer.min.js").read_bytes(),
        written,
    )
    _put("assets/vendor/model-viewer/LICENSE", (model_viewer / "LICENSE").read_bytes(), written)
    for name in ("draco_decoder.js", "draco_decoder.wasm", "draco_wasm_wrapper.js"):
        _put(
            f"assets/vendor/draco/{name}",
            (jsm / "libs/draco/gltf" / name).read_bytes(),
            written,
        )
    for name in ("basis_transcoder.js", "basis_transcoder.wasm"):
        _put(f"assets/vendor/basis/{name}", (jsm / "libs/basis" / name).read_bytes(), written)
    # model-viewer loads its meshopt decoder as a classic <script> (its own bundled decoder
    # waits for that load), so the module's export statement is dropped.
    meshopt = (jsm / "libs/meshopt_decoder.module.js").read_text("utf-8")
    meshopt = re.sub(r"^export \{ MeshoptDecoder \};\s*$", "", meshopt, flags=re.M)
    _put("assets/vendor/meshopt/meshopt_decoder.js", meshopt.encode("utf-8"), written)
    return dict(sorted(written.items()))
