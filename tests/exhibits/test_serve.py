"""The exhibit preview server (exhibits.serve), through real HTTP requests on loopback."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from exhibits.serve import make_server
from ledger.errors import NoSuchFile, UsageError

AUDIO = bytes(range(256)) * 40  # 10,240 bytes


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("serve")
    root = tmp_path / "site"
    item = root / "items" / "0xab" / "files"
    item.mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>home</title>")
    (root / "items" / "0xab" / "index.html").write_text("<!doctype html><title>item</title>")
    (item / "audio.ogg").write_bytes(AUDIO)
    (item / "model.glb").write_bytes(b"glTF\x02\x00\x00\x00")
    (root / "assets").mkdir()
    for name in ("a.wasm", "a.mjs", "a.js", "a.svg", "a.webp", "a.png", "proofs.json"):
        (root / "assets" / name).write_bytes(b"x")
    (root / "empty").mkdir()
    (root / ".hidden").write_text("no")
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the site")
    (root / "link.txt").symlink_to(secret)
    (root / "linkdir").symlink_to(tmp_path)
    return root


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[ThreadingHTTPServer]:
    served = make_server(site, port=0)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.shutdown()
        served.server_close()
        thread.join()


def _get(
    server: ThreadingHTTPServer,
    path: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)  # the path as it is
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_binds_localhost_by_default(server: ThreadingHTTPServer) -> None:
    assert server.server_address[0] == "127.0.0.1"


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/assets/a.wasm", "application/wasm"),
        ("/assets/a.mjs", "text/javascript; charset=utf-8"),
        ("/assets/a.js", "text/javascript; charset=utf-8"),
        ("/assets/a.svg", "image/svg+xml"),
        ("/assets/a.webp", "image/webp"),
        ("/assets/a.png", "image/png"),
        ("/assets/proofs.json", "application/json"),
        ("/items/0xab/files/model.glb", "model/gltf-binary"),
        ("/items/0xab/files/audio.ogg", "audio/ogg"),
        ("/", "text/html; charset=utf-8"),
    ],
)
def test_media_types(server: ThreadingHTTPServer, path: str, media_type: str) -> None:
    status, headers, _ = _get(server, path)
    assert status == 200
    assert headers["content-type"] == media_type
    assert headers["x-content-type-options"] == "nosniff"


def test_directories_serve_their_index_and_redirect_without_slash(
    server: ThreadingHTTPServer,
) -> None:
    status, _, body = _get(server, "/items/0xab/")
    assert status == 200 and b"<title>item</title>" in body
    status, headers, _ = _get(server, "/items/0xab?lang=mi")
    assert status == 301 and headers["location"] == "/items/0xab/?lang=mi"
    status, headers, _ = _get(server, "//items/0xab")  # never a "//host" Location
    assert status == 301 and headers["location"] == "/items/0xab/"
    status, _, body = _get(server, "//items/0xab/")
    assert status == 200 and b"<title>item</title>" in body
    status, _, _ = _get(server, "/empty/")  # no index.html: no listing either
    assert status == 404
    status, _, body = _get(server, "/items/")
    assert status == 404 and b"0xab" not in body


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/items/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/%2e%2e/secret.txt",
        "/items/%2e%2e/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/link.txt",
        "/linkdir/secret.txt",
        "/.hidden",
        "/items/0xab/files/%00audio.ogg",
        "/items\\..\\..\\secret.txt",
        "/nothing-here.html",
    ],
)
def test_nothing_outside_the_folder(server: ThreadingHTTPServer, path: str) -> None:
    status, _, body = _get(server, path)
    assert status in (400, 404)
    assert b"outside the site" not in body


def test_head_sends_headers_only(server: ThreadingHTTPServer) -> None:
    status, headers, body = _get(server, "/items/0xab/files/audio.ogg", "HEAD")
    assert status == 200 and body == b""
    assert headers["content-length"] == str(len(AUDIO))
    assert headers["accept-ranges"] == "bytes"


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=0-99", 0, 99), ("bytes=10000-", 10000, 10239), ("bytes=-40", 10200, 10239),
     ("bytes=5000-999999", 5000, 10239)],
)  # fmt: skip
def test_byte_ranges_for_seeking(
    server: ThreadingHTTPServer, header: str, first: int, last: int
) -> None:
    status, headers, body = _get(server, "/items/0xab/files/audio.ogg", headers={"Range": header})
    assert status == 206
    assert headers["content-range"] == f"bytes {first}-{last}/{len(AUDIO)}"
    assert body == AUDIO[first : last + 1]


@pytest.mark.parametrize(
    "header",
    [
        "bytes=20000-",
        "bytes=50-10",
        "bytes=-0",
        "lines=1-2",
        "bytes=0-1,5-9",
        "bytes=" + "9" * 5000 + "-",
    ],
)
def test_unsatisfiable_ranges(server: ThreadingHTTPServer, header: str) -> None:
    status, headers, _ = _get(server, "/items/0xab/files/audio.ogg", headers={"Range": header})
    assert status == 416 and headers["content-range"] == f"bytes */{len(AUDIO)}"


def test_other_methods_are_refused(server: ThreadingHTTPServer) -> None:
    status, headers, _ = _get(server, "/index.html", "POST")
    assert status == 405 and headers["allow"] == "GET, HEAD"


def test_port_taken_is_a_clear_error(site: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=f"port {port} .* already in use") as caught:
            make_server(site, port=port)
        assert caught.value.hint and "--port" in caught.value.hint


def test_a_folder_that_is_no_site(tmp_path: Path) -> None:
    with pytest.raises(NoSuchFile):
        make_server(tmp_path / "missing", port=0)
    with pytest.raises(UsageError, match=r"no index\.html"):
        make_server(tmp_path, port=0)
    assert os.listdir(tmp_path) == []


def test_serve_prints_its_address_and_serves_until_stopped(site: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    script = "import sys, pathlib, exhibits.serve as s; s.serve(pathlib.Path(sys.argv[1]), port=0)"
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(site)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.fullmatch(
            rf"Serving {re.escape(str(site))} at http://127\.0\.0\.1:(\d+)/ .*\n", line
        )
        assert found, line
        connection = http.client.HTTPConnection("127.0.0.1", int(found.group(1)))
        connection.request("GET", "/items/0xab/files/audio.ogg")
        response = connection.getresponse()
        assert response.status == 200 and response.read() == AUDIO
        connection.close()
    finally:
        proc.terminate()
        proc.wait()
