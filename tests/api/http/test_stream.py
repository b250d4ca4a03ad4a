"""The streaming event feed (``GET /events/stream``, Server-Sent Events) on the real anvil and
the embedded node, served by uvicorn: an item registered while a client listens arrives as
its event, as the paged feed gives it; a client that reconnects with ``Last-Event-ID`` gets
nothing twice and misses nothing; bad cursors are refused; closing the app ends the streams.

Known answers come from what the tests do on the chain (the items they register, the
community's creation), not from the feed."""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from api.http.events import StreamSettings
from ledger.registry import Registry, SignerKeys
from ledger.settings import Settings
from local_chain import anvil_dev_account
from tests.api.http.support import get_json, served_api
from tests.registry_support import (
    PASSPHRASE,
    chain_settings,
    keyed_community,
    module_chain,
    settings_on,
)
from tests.rights_support import public_terms, write_terms

REUSED_FIXTURES = (chain_settings, module_chain)
#: A guard against a hang, not a measure: far beyond any poll or heartbeat here.
PATIENCE = 300.0


@dataclass
class Site:
    settings: Settings
    url: str
    app: FastAPI
    community: bytes
    keys: SignerKeys
    terms: Path
    files: Path
    made: list[bytes] = field(default_factory=list)

    def register(self, count: int) -> list[bytes]:
        """Register ``count`` new images (one transaction each); their item keys."""
        paths: list[Path] = []
        for _ in range(count):
            n = len(self.made) + len(paths)
            path = self.files / f"Kelp-Lantern-{n}.png"
            Image.new("RGB", (6, 6), (n % 256, n // 256, 77)).save(path)
            paths.append(path)
        with Registry(self.settings, sender=anvil_dev_account()) as registry:
            done = registry.items.register(paths, self.community, self.terms, self.keys)
        keys = [r.key for r in done]
        self.made.extend(keys)
        return keys


@pytest.fixture(scope="module")
def site(module_chain: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("api-stream")
    settings = settings_on(module_chain, folder / "data")
    with Registry(settings, sender=anvil_dev_account()) as registry:
        keyed_community(registry, f"Stream-{folder.name}", 2, 1)
        community = registry.reader.resolve_community(f"Stream-{folder.name}")
    keys = SignerKeys(settings, lambda _address: PASSPHRASE)
    terms = write_terms(folder / "public.json", public_terms(community))
    files = folder / "files"
    files.mkdir()
    made: list[FastAPI] = []

    def configure(app: FastAPI) -> None:
        app.state.event_streams = StreamSettings(poll=0.05, heartbeat=0.3)
        made.append(app)

    with served_api(settings, configure=configure) as url:
        yield Site(settings, url, made[0], community, keys, terms, files)


class Listener:
    """A client of the stream on a thread of its own: each message (id, event, data) or
    comment as it arrives, on a queue; ``None`` when the answer ends."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.status: int | None = None
        self.started = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, headers or {}), daemon=True)
        self._thread.start()
        self.started.wait(PATIENCE)

    def _run(self, url: str, headers: dict[str, str]) -> None:
        try:
            with httpx.stream("GET", url, headers=headers, timeout=PATIENCE) as response:
                self.status = response.status_code
                self.content_type = response.headers.get("content-type", "")
                self.started.set()
                fields: dict[str, Any] = {}
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line == "":
                        if fields:
                            self.messages.put(fields)
                        fields = {}
                    elif line.startswith(":"):
                        self.messages.put({"comment": line[1:].strip()})
                    else:
                        name, _, value = line.partition(":")
                        fields[name] = value[1:] if value.startswith(" ") else value
        finally:
            self.started.set()
            self.messages.put(None)

    def next(self) -> dict[str, Any] | None:
        return self.messages.get(timeout=PATIENCE)

    def events(self, count: int) -> list[dict[str, Any]]:
        """The next ``count`` events (comments skipped)."""
        found: list[dict[str, Any]] = []
        while len(found) < count:
            message = self.next()
            assert message is not None, f"the stream ended after {len(found)} of {count}"
            if "data" in message:
                found.append(message)
        return found

    def close(self) -> None:
        self._stop.set()


def _all_pages(site: Site) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = ""
    with httpx.Client(base_url=site.url, timeout=PATIENCE) as client:
        while True:
            page = get_json(client, f"/events?limit=7{after}")
            events.extend(page["events"])
            if page["next"] is None:
                return events
            after = f"&after={page['next']}"


def _registered(messages: list[dict[str, Any]]) -> list[str]:
    import json

    return [
        json.loads(m["data"])["fields"]["item"]
        for m in messages
        if json.loads(m["data"])["event"] == "ItemRegistered"
    ]


def test_an_item_registered_while_a_client_listens_arrives(site: Site) -> None:
    import json

    listener = Listener(f"{site.url}/events/stream")
    try:
        assert listener.status == 200 and listener.content_type.startswith("text/event-stream")
        before = _all_pages(site)
        history = listener.events(len(before))  # what was there: the paged feed's events
        assert [json.loads(m["data"]) for m in history] == before
        assert [m["id"] for m in history] == [
            f"{e['block_number']}.{e['log_index']}" for e in before
        ]
        (key,) = site.register(1)
        arrived = listener.events(1)[0]
        entry = json.loads(arrived["data"])
        assert entry["event"] == "ItemRegistered"
        assert entry["fields"]["item"] == "0x" + key.hex()
        assert arrived["event"] == "registry"
        # the same JSON as its entry in the paged feed, under its cursor
        after = _all_pages(site)
        assert entry in after and entry == after[-1]
        assert arrived["id"] == f"{entry['block_number']}.{entry['log_index']}"
        # the chain's data only: the file's name (what a catalogue would show) is not in it
        assert "Kelp-Lantern" not in arrived["data"]
        # nothing happens now: heartbeats (comments) keep the connection alive
        assert listener.next() == {"comment": "heartbeat"}
    finally:
        listener.close()


def test_a_reconnecting_client_resumes_with_nothing_twice_and_nothing_missed(
    site: Site,
) -> None:
    import json

    first = Listener(f"{site.url}/events/stream")
    try:
        existing = len(_all_pages(site))
        site.register(2)
        seen = first.events(existing + 2)
    finally:
        first.close()
    # the client is away while three more are registered (one of them in its last page)
    made = site.register(3)
    # a reconnecting EventSource sends Last-Event-ID with its first URL (here an older
    # `after`): the header wins
    resumed = Listener(
        f"{site.url}/events/stream?after=0.0", headers={"Last-Event-ID": seen[-1]["id"]}
    )
    try:
        rest = resumed.events(3)
        later = site.register(1)
        rest += resumed.events(1)
    finally:
        resumed.close()
    everything = [json.loads(m["data"]) for m in seen + rest]
    assert everything == _all_pages(site)
    ids = [m["id"] for m in seen + rest]
    assert len(set(ids)) == len(ids)
    assert _registered(rest) == ["0x" + k.hex() for k in made + later]
    assert set(_registered(seen + rest)) == {"0x" + k.hex() for k in site.made}
    assert len(_registered(seen + rest)) == len(site.made)


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("?after=14", {}),
        ("?after=x.1", {}),
        ("", {"Last-Event-ID": "1.2.3"}),
        ("?after=1.0", {"Last-Event-ID": "-1.0"}),
    ],
)
def test_a_bad_cursor_is_refused_before_the_stream_starts(
    site: Site, query: str, headers: dict[str, str]
) -> None:
    answer = httpx.get(f"{site.url}/events/stream{query}", headers=headers, timeout=PATIENCE)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "usage_error" and "cursor" in error["message"] and error["hint"]


def test_the_stream_is_not_in_the_openapi_document(site: Site) -> None:
    document = httpx.get(f"{site.url}/openapi.json", timeout=PATIENCE).json()
    assert "/events" in document["paths"]
    assert "/events/stream" not in document["paths"]


def test_closing_the_app_ends_its_streams(module_chain: Settings, tmp_path: Path) -> None:
    settings = settings_on(module_chain, tmp_path / "data")
    made: list[FastAPI] = []
    with served_api(settings, configure=made.append) as url:
        listener = Listener(f"{url}/events/stream?after=999999.0")
        assert listener.status == 200
        assert listener.next() == {"retry": "2000"}
    # the server has shut down: the answer ended (it did not wait for the stream forever)
    assert listener.next() is None
    assert made[0].state.event_streams.closing.is_set()


def test_heritage_serve_stops_with_a_stream_open(module_chain: Settings, tmp_path: Path) -> None:
    """uvicorn waits for every connection to end before it stops: `heritage serve` ends the
    streams when it is told to stop, so a listening client does not keep it alive."""
    import os
    import signal
    import subprocess
    import sys

    from ledger.chain import deployment_path

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERITAGE_")}
    env |= {
        "HERITAGE_DATA_DIR": str(tmp_path / "data"),
        "HERITAGE_RPC_URL": module_chain.rpc_url,
        "HERITAGE_DEPLOYMENT": str(deployment_path(module_chain)),
        "PYTHONPATH": str(Path(__file__).resolve().parents[3]),
    }
    command = [sys.executable, "-c", "from api.cli import main; main()", "serve"]
    with subprocess.Popen(
        [*command, "--port", str(port)], env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    ) as server:  # fmt: skip
        try:
            assert server.stderr is not None
            assert f"api: http://127.0.0.1:{port}/" in server.stderr.readline()
            url = f"http://127.0.0.1:{port}"
            while True:  # until uvicorn has bound the port (or the process ended)
                assert server.poll() is None, server.stderr.read()
                try:
                    httpx.get(f"{url}/health", timeout=PATIENCE)
                    break
                except httpx.ConnectError:
                    threading.Event().wait(0.02)
            listener = Listener(f"{url}/events/stream")
            assert listener.status == 200
            assert listener.next() == {"retry": "2000"}
            asked = time.monotonic()
            server.send_signal(signal.SIGINT)
            # It stops (the stream does not hold it open), and cleanly: uvicorn either
            # re-raises the interrupt once shut down (130, as a shell reports it) or returns
            # (0), depending on where in its loop the signal lands.
            assert server.wait(timeout=PATIENCE) in (0, 130), server.stderr.read()
            print(f"stopped in {time.monotonic() - asked:.2f} s")
            # what the chain holds (if anything) came, then the answer ended
            while (message := listener.next()) is not None:
                assert "data" in message or "comment" in message
        finally:
            if server.poll() is None:
                server.kill()
