"""The assets a site serves (exhibits/site/assets.py): copy_assets writes the site's scripts
and the vendored libraries, every module import among them resolves inside the copy, nothing
names another origin, the output is the same bytes every time, the model-viewer style hash is
the hash of the style model-viewer carries, and a missing or mismatched node_modules is a clear
ConfigError that writes nothing. (The hash is checked in Chromium by test_browser_site.py.)"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest

from exhibits.site import assets
from exhibits.site.assets import (
    ADDONS,
    VENDOR_STYLE_HASHES,
    copy_assets,
    find_node_modules,
    model_viewer_style,
)
from ledger.errors import ConfigError

IMPORT = re.compile(r"""(?:\bfrom\s*|\bimport\s*\(?\s*)(['"])([^'"]+)\1""")


@pytest.fixture(scope="module")
def copied(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("site")
    return out, copy_assets(out)


def test_copy_assets_writes_what_it_lists(copied: tuple[Path, list[str]]) -> None:
    out, written = copied
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == on_disk
    assert all(path.startswith("assets/") for path in written)
    for name in ("gallery", "item", "verify", "sha256", "search", "mv-config"):
        assert f"assets/app/{name}.js" in written
    for path in (
        "assets/vendor/three/three.module.js",
        "assets/vendor/three/three.core.js",
        "assets/vendor/model-viewer/model-viewer.min.js",
        "assets/vendor/draco/draco_decoder.wasm",
        "assets/vendor/draco/draco_wasm_wrapper.js",
        "assets/vendor/basis/basis_transcoder.wasm",
        "assets/vendor/meshopt/meshopt_decoder.js",
        "assets/vendor/three/addons/loaders/LottieLoader.js",
        *(f"assets/vendor/three/addons/{addon}" for addon in ADDONS),
    ):
        assert path in written
    # Only what is used: no examples, no other builds of three.
    assert not any("webgpu" in path or "examples" in path for path in written)


def test_every_module_import_resolves_inside_the_copy(copied: tuple[Path, list[str]]) -> None:
    out, written = copied
    import_map = {
        "three": out / "assets/vendor/three/three.module.js",
        "three/addons/": out / "assets/vendor/three/addons",
    }
    for path in written:
        if not path.endswith(".js") or "model-viewer" in path or "/draco/" in path:
            continue
        lines = (out / path).read_text("utf-8").splitlines()
        text = "\n".join(line for line in lines if not line.lstrip().startswith(("//", "*")))
        for match in IMPORT.finditer(text):
            target = match.group(2)
            if target == "three":
                resolved = import_map["three"]
            elif target.startswith("three/addons/"):
                resolved = import_map["three/addons/"] / target.removeprefix("three/addons/")
            elif target.startswith("."):
                resolved = (out / path).parent / target
            else:
                continue  # a word such as "from 'x'" inside a comment or string of a library
            assert resolved.resolve().is_file(), f"{path} imports {target}"


def test_the_item_page_modules_need_no_import_map(copied: tuple[Path, list[str]]) -> None:
    out, _ = copied
    lottie = (out / "assets/vendor/three/addons/loaders/LottieLoader.js").read_text("utf-8")
    assert not re.search(r"""from\s*['"]three['"]""", lottie)
    assert "from '../../three.module.js'" in lottie
    meshopt = (out / "assets/vendor/meshopt/meshopt_decoder.js").read_text("utf-8")
    assert not re.search(r"^export\b", meshopt, re.M), "a classic script cannot export"
    assert "var MeshoptDecoder" in meshopt


def test_the_site_scripts_name_no_other_origin() -> None:
    for script in sorted((Path(assets.__file__).parent / "static" / "js").glob("*.js")):
        text = script.read_text("utf-8")
        assert not re.search(r"https?://|//cdn|gstatic|jsdelivr|unpkg", text), script.name
        assert "innerHTML" not in text and "eval(" not in text, script.name


def test_copy_is_deterministic(copied: tuple[Path, list[str]], tmp_path: Path) -> None:
    out, written = copied
    assert copy_assets(tmp_path) == written
    for path in written:
        assert (tmp_path / path).read_bytes() == (out / path).read_bytes(), path


def test_the_style_hash_is_model_viewers_style() -> None:
    style = model_viewer_style(find_node_modules())
    assert ":host {" in style and "#default-exit-webxr-ar-button" in style
    digest = base64.b64encode(hashlib.sha256(style.encode("utf-8")).digest()).decode()
    expected = (f"'sha256-{digest}'",)
    assert expected == VENDOR_STYLE_HASHES


def test_missing_node_modules_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "nothing"
    empty.mkdir()
    monkeypatch.setenv("HERITAGE_NODE_MODULES", str(empty))
    out = tmp_path / "site"
    out.mkdir()
    with pytest.raises(ConfigError, match="not installed") as raised:
        copy_assets(out)
    assert str(empty) in str(raised.value)
    assert raised.value.hint is not None and "npm ci" in raised.value.hint
    assert list(out.iterdir()) == [], "nothing is written before the check"


def test_another_version_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    modules = tmp_path / "node_modules"
    for package, version in (("three", "0.150.0"), ("@google/model-viewer", "4.4.0")):
        (modules / package).mkdir(parents=True)
        (modules / package / "package.json").write_text(json.dumps({"version": version}))
    monkeypatch.setenv("HERITAGE_NODE_MODULES", str(modules))
    with pytest.raises(ConfigError, match=r"0\.150\.0.*three 0\.183\.2") as raised:
        find_node_modules()
    assert raised.value.hint is not None and "package-lock.json" in raised.value.hint
