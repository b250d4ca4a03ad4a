"""The demo's run: a fresh data directory and the chain (:func:`prepare_demo`), the IPFS node
served (:func:`serve_node`), the sample collection registered and the exhibit built
(:func:`build_demo`), then (unless told not to) the site and the API served
(:func:`start_services`).

Nothing here asks anything: keys are made with a passphrase written beside them (a demo's
keys guard nothing), and every choice has a default. The data directory is reset at each run
(it must be empty, or a folder an earlier demo made: it holds :data:`MARKER`); its anvil, if
one still runs, is stopped first.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from api.demo.collection import (
    CATEGORIES,
    COMMUNITIES,
    FULL,
    SMALL,
    Category,
    Sample,
    description_document,
    terms_document,
    write_sample,
)
from api.demo.ports import DEFAULT_PORTS, PortChoice, choose_port
from ledger.errors import UsageError
from ledger.settings import Settings, load_settings

if TYPE_CHECKING:
    from ledger.registry import Registry, SignerKeys

__all__ = [
    "DEMO_PASSPHRASE",
    "MARKER",
    "Demo",
    "DemoBuild",
    "DemoOptions",
    "Row",
    "Services",
    "build_demo",
    "default_demo_dir",
    "prepare_demo",
    "reset_demo_dir",
    "serve_node",
    "start_services",
]

#: The file that marks a folder as the demo's (and so safe to reset).
MARKER: Final = ".heritage-demo"
#: The demo keyholders' passphrase, also written to ``<demo dir>/passphrase.txt``.
DEMO_PASSPHRASE: Final = "heritage demo keyholder"  # noqa: S105 - sample keys guard nothing
_SPEC: Final = """\
title = { en = "A sample collection", mi = "He kohinga tauira", fr = "Une collection d'exemples" }
languages = ["en", "mi", "fr"]
[select]
communities = %s
"""

#: ``say(line)``: a line for the person running the demo (notes, what happens next).
Say = Callable[[str], None]
#: ``progress(stage, done, total)``.
Progress = Callable[[str, int, int], None]


def default_demo_dir(settings: Settings | None = None) -> Path:
    """``<data dir>/demo``: the data directory (HERITAGE_DATA_DIR, else the platform's user
    data folder) plus ``demo``."""
    return (settings or load_settings()).data_dir / "demo"


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What to run: where, which collection (``small``: one sample of each kind of terms),
    and the ports wanted (taken ones are replaced by free ones)."""

    data_dir: Path
    small: bool = False
    host: str = "127.0.0.1"
    ports: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: a sample, its terms in words, shown or not, and why not."""

    name: str
    community: str
    terms: str
    shown: bool
    reasons: tuple[str, ...]  # the denying reason codes (empty when shown)


@dataclass(frozen=True, slots=True)
class DemoBuild:
    """A finished build: the settings of the demo's data directory, the ports, the site
    folder, its private report and the table."""

    settings: Settings
    ports: Mapping[str, PortChoice]
    site: Path
    report: Path
    rows: tuple[Row, ...]


def reset_demo_dir(folder: Path) -> None:
    """Empty ``folder`` for a new run: refused unless it is missing, empty, or marked as an
    earlier demo's (whose anvil is stopped first)."""
    from local_chain import chain_down

    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is not a folder", hint="pass a folder with --data-dir")
    if folder.is_dir() and any(folder.iterdir()):
        if not (folder / MARKER).is_file():
            raise UsageError(
                f"{folder} is not empty and is not a demo's data directory",
                hint="pass an empty or new folder with --data-dir; nothing was changed",
            )
        chain_down(load_settings(env={}, data_dir=folder / "data"))
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("made by `heritage demo`; each run resets this folder\n")


def _choose_ports(options: DemoOptions) -> dict[str, PortChoice]:
    chosen: dict[str, PortChoice] = {}
    for service, default in DEFAULT_PORTS.items():
        wanted = options.ports.get(service, default)
        given = {c.port for c in chosen.values()}
        chosen[service] = choose_port(service, wanted, options.host, given)
    return chosen


def _settings(folder: Path, host: str, ports: Mapping[str, PortChoice]) -> Settings:
    rpc_url = f"http://{host}:{ports['chain'].port}"
    # Recorded so that `HERITAGE_DATA_DIR=<folder>/data heritage …` finds this chain and node.
    data = folder / "data"
    data.mkdir()
    (data / "config.toml").write_text(
        f'rpc_url = "{rpc_url}"\nipfs_host = "{host}"\nipfs_port = {ports["ipfs"].port}\n',
        encoding="utf-8",
    )
    return load_settings(env={}, data_dir=data, fsync=False)


def _keys(registry: Registry, folder: Path) -> tuple[dict[str, bytes], SignerKeys]:
    """The two communities, created with keys made here; their ids by key."""
    from ledger.crypto import KEM_X25519
    from ledger.keys import new_key
    from ledger.registry import SignerKeys

    (folder / "passphrase.txt").write_text(DEMO_PASSPHRASE + "\n", encoding="utf-8")
    keys = SignerKeys(registry.settings, lambda _address: DEMO_PASSPHRASE)
    ids: dict[str, bytes] = {}
    for community in COMMUNITIES:
        holders = [
            new_key(
                registry.settings, DEMO_PASSPHRASE, label=f"{community.name} {i + 1}",
                unsafe_light_kdf=True, encryption=KEM_X25519,
            ).address
            for i in range(community.keyholders)
        ]  # fmt: skip
        created = registry.communities.create(community.name, holders, community.threshold, keys)
        ids[community.key] = created.id
    return ids, keys


def _register(
    registry: Registry, folder: Path, samples: tuple[Sample, ...], progress: Progress | None
) -> dict[str, str]:
    """Register every sample under its terms; the CID of each by name."""
    from ledger.rights.description import parse_description

    ids, keys = _keys(registry, folder)
    files, terms_dir = folder / "collection", folder / "terms"
    files.mkdir()
    terms_dir.mkdir()
    now = datetime.now(UTC)
    terms: dict[tuple[str, Category], Path] = {}
    for community, community_id in ids.items():
        for category in CATEGORIES:
            path = terms_dir / f"{community}-{category}.json"
            path.write_text(_json(terms_document(category, community_id, now=now)), "utf-8")
            terms[(community, category)] = path
    paths = {s.name: write_sample(s, files) for s in samples}
    cids: dict[str, str] = {}
    # One batch per community and terms; a derivative's parent alone (the registry links
    # derivatives to claims with a record of their own, not to batch items).
    parents = {s.parent for s in samples if s.parent is not None}
    groups: dict[tuple[str, Category, str], list[Sample]] = {}
    for sample in samples:
        if sample.parent is None:
            alone = sample.name if sample.name in parents else ""
            groups.setdefault((sample.community, sample.category, alone), []).append(sample)
    for (community, category, _alone), members in groups.items():
        chosen = [paths[s.name] for s in members]
        described = [parse_description(description_document(s), s.name) for s in members]
        where = (ids[community], terms[(community, category)], keys)
        if len(members) > 1:
            batch = registry.items.register_batch(
                chosen, *where, progress=progress, descriptions=described
            )
            for sample, item in zip(members, batch.items, strict=True):
                cids[sample.name] = str(item.cid)
        else:
            (single,) = registry.items.register(
                chosen, *where, progress=progress, descriptions=described
            )
            cids[members[0].name] = str(single.cid)
    for sample in samples:
        if sample.parent is not None:
            method = folder / f"{sample.name}.method.json"
            method.write_text(_json({
                "type": "heritage/derivative-method", "version": 1,
                "method": "super-resolution",
                "description": "A 4x enlargement standing for an AI enhancement (the demo "
                "makes it with Lanczos resampling).",
                "model": "demo stand-in", "operator": "Heritage Ledger demo",
            }), "utf-8")  # fmt: skip
            derived = registry.derivatives.add(
                cids[sample.parent], paths[sample.name], ids[sample.community],
                terms[(sample.community, "ai-derivative")], method, keys, ai_enhanced=True,
            )  # fmt: skip
            cids[sample.name] = str(derived.cid)
            # A derivative is registered without a description (the registry links it to its
            # parent by a record of its own): its titles come as its first description, so
            # that the site and the API name it, not its file.
            registry.descriptions.describe(
                cids[sample.name], parse_description(description_document(sample), sample.name),
                keys, ids[sample.community],
            )  # fmt: skip
    for sample in samples:
        if sample.category == "revoked":
            registry.terms.revoke(cids[sample.name], keys, ids[sample.community])
    return cids


def _json(value: Any) -> str:
    import json

    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def _rows(samples: tuple[Sample, ...], cids: Mapping[str, str], report: Mapping[str, Any]) -> (
    tuple[Row, ...]
):  # fmt: skip
    by_cid = {str(item["cid"]): item for item in report["items"]}
    names = {c.key: c.name for c in COMMUNITIES}
    rows = []
    for sample in samples:
        item = by_cid.get(cids[sample.name])
        shown = bool(item and item["shown"])
        codes = () if item is None else tuple(
            sorted({str(r["code"]) for r in item["reasons"] if r["denies"]}))  # fmt: skip
        if item is None:
            codes = ("not.selected",)
        rows.append(Row(sample.name, names[sample.community], CATEGORIES[sample.category][0],
                        shown, () if shown else codes))  # fmt: skip
    return tuple(sorted(rows, key=lambda r: not r.shown))  # shown first, else as listed


@dataclass(frozen=True, slots=True)
class Demo:
    """A prepared run: its folder (reset), the ports, the settings of its data directory
    (``<folder>/data``), the samples, and the host everything listens on."""

    folder: Path
    settings: Settings
    ports: Mapping[str, PortChoice]
    samples: tuple[Sample, ...]
    host: str


def prepare_demo(options: DemoOptions, *, say: Say) -> Demo:
    """Reset the folder, choose the ports (saying which were taken) and start the chain
    with the registry deployed. The chain runs until ``local_chain.chain_down(settings)``."""
    from contracts import load_artifact
    from ledger.chain import REGISTRY_CONTRACT
    from local_chain import chain_up

    folder = options.data_dir.expanduser().absolute()
    reset_demo_dir(folder)
    say(f"demo folder: {folder} (reset at each run)")
    ports = _choose_ports(options)
    for choice in ports.values():
        note = choice.note()
        if note is not None:
            say(note)
    settings = _settings(folder, options.host, ports)
    say(f"starting the local chain on {settings.rpc_url}")
    chain_up(settings, load_artifact(REGISTRY_CONTRACT))
    samples = SMALL if options.small else FULL
    return Demo(folder, settings, ports, samples, options.host)


def build_demo(demo: Demo, *, say: Say, progress: Progress | None = None) -> DemoBuild:
    """Register the collection on the demo's chain and build the exhibit of it."""
    from exhibits.build import build_exhibit
    from exhibits.spec import parse_spec
    from ledger.registry import Registry
    from local_chain import anvil_dev_account

    say(f"registering {len(demo.samples)} items of two communities")
    with Registry(demo.settings, sender=anvil_dev_account()) as registry:
        cids = _register(registry, demo.folder, demo.samples, progress)
    names = [c.name for c in COMMUNITIES]
    spec = parse_spec(_SPEC % _json(names).strip(), "the demo's exhibit spec")
    say("building the exhibit")
    result = build_exhibit(spec, demo.folder / "site", settings=demo.settings, progress=progress)
    return DemoBuild(
        settings=demo.settings,
        ports=demo.ports,
        site=result.out,
        report=result.report_path,
        rows=_rows(demo.samples, cids, result.report),
    )


# ---- serving ---------------------------------------------------------------------------------


@dataclass
class Services:
    """What the demo serves, each in a thread of this process: the IPFS node, the site and the
    API (``api.app``). :meth:`stop` stops them all."""

    urls: dict[str, str] = field(default_factory=dict)
    _stops: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        while self._stops:
            self._stops.pop()()


def _uvicorn(app: Any, host: str, port: int) -> Callable[[], None]:
    import uvicorn

    from api.listen import listening_socket

    sock = listening_socket(host, port, reuse_address=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise UsageError(f"the server on {host}:{port} did not start",
                             hint="see the messages above; try again")  # fmt: skip
        threading.Event().wait(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

    return stop


@contextmanager
def serve_node(demo: Demo) -> Iterator[str]:
    """Serve the demo's IPFS node (Kubo RPC subset and gateway, as ``heritage ipfs serve``)
    on its port; its URL. Stopped when the block ends."""
    from api.ipfs import create_ipfs_app
    from ledger.ipfs.backend import EmbeddedNode

    port = demo.ports["ipfs"].port
    node = create_ipfs_app(demo.settings, EmbeddedNode.open(demo.settings))
    stop = _uvicorn(node, demo.host, port)
    try:
        yield f"http://{demo.host}:{port}/"
    finally:
        stop()


@contextmanager
def start_services(build: DemoBuild, host: str = "127.0.0.1") -> Iterator[Services]:
    """Serve the site and the API on the build's ports; both stopped when the block ends."""
    from exhibits.serve import make_server

    services = Services()
    try:
        from api.app import create_app
        from api.http.events import close_streams

        port = build.ports["api"].port
        app = create_app(build.settings)
        services._stops.append(_uvicorn(app, host, port))
        # Stops run last first: open event streams end before uvicorn waits for connections.
        services._stops.append(lambda: close_streams(app))
        services.urls["api"] = f"http://{host}:{port}/"
        site = make_server(build.site, host, build.ports["exhibit"].port)
        thread = threading.Thread(target=site.serve_forever, daemon=True)
        thread.start()

        def stop_site() -> None:
            site.shutdown()
            site.server_close()

        services._stops.append(stop_site)
        services.urls["exhibit"] = f"http://{host}:{site.server_address[1]}/"
        yield services
    finally:
        services.stop()
