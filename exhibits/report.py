"""The build report: every selected item, shown or excluded, and why; what changed since.

The report is **private**: it names excluded items (claim key, CID) and the policy's reasons,
which the site must never show. It is written beside the site (``DIR.report.json`` for a site
in ``DIR``, or ``--report FILE``), never inside it (:func:`report_path_for` refuses).

Format (``"type": "heritage/exhibit-report"``, ``"version": 1``; docs/exhibit.md, "The build
report"): the spec's ``spec_id`` and title, ``built_at`` and the decision moment ``at``, the
chain, ``counts`` (selected, shown, excluded), ``items`` (sorted by id: ``id``, ``cid``,
``community``, ``kind``, ``sealed``, ``shown``, ``terms_cid``, ``terms_version``,
``reasons`` as :meth:`ledger.rights.policy.Reason.to_json`), and ``changes`` since the
previous report of the same spec at the same path (matched by ``spec_id``): ``added`` and
``removed``, each with ``why``. ``changes`` is null for the first build of a spec there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from exhibits.model import Candidate, ChainRef, Choice
from exhibits.spec import ExhibitSpec
from exhibits.ui_text import UiText
from ledger.errors import UsageError

__all__ = [
    "REPORT_TYPE",
    "build_report",
    "changes_since",
    "read_previous",
    "report_path_for",
    "write_report",
]

REPORT_TYPE: Final = "heritage/exhibit-report"
#: A report is a list of items; one larger than this is not a report we wrote.
_MAX_REPORT_BYTES: Final = 256 << 20


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _item(candidate: Candidate, shown: bool, reasons: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": candidate.item_id,
        "cid": str(candidate.cid),
        "community": "0x" + candidate.community.hex(),
        "kind": candidate.kind,
        "sealed": candidate.sealed,
        "shown": shown,
        "terms_cid": None if candidate.terms_cid is None else str(candidate.terms_cid),
        "terms_version": candidate.terms_version,
        "reasons": reasons,
    }


def _why(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "pointer": "", "message": message, "denies": False}


def changes_since(
    previous: Mapping[str, Any] | None, items: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """What changed from the ``previous`` report (of the same spec) to ``items`` (this
    build's report items): ``added`` (shown now, not then) and ``removed`` (shown then, not
    now), each with ``why``; None when there is no previous report."""
    if previous is None:
        return None
    before = {str(i.get("id")): i for i in previous.get("items", []) if isinstance(i, dict)}
    now = {i["id"]: i for i in items}
    added: list[dict[str, Any]] = []
    removed: list[dict[str, Any]] = []
    for item_id, item in sorted(now.items()):
        then = before.get(item_id)
        if not item["shown"] or (then is not None and then.get("shown") is True):
            continue
        if then is None:
            why = [_why("change.selected", "newly selected (registered, or named by the spec)")]
        else:
            codes = ", ".join(str(r.get("code")) for r in then.get("reasons", []))
            why = [_why("change.allowed", f"excluded last time ({codes}); allowed now")]
        added.append({"id": item_id, "cid": item["cid"], "why": why})
    for item_id, then in sorted(before.items()):
        if then.get("shown") is not True:
            continue
        current = now.get(item_id)
        if current is not None and current["shown"]:
            continue
        if current is None:
            why = [_why("change.deselected", "no longer selected by the spec")]
        else:
            why = list(current["reasons"])
        removed.append({"id": item_id, "cid": str(then.get("cid")), "why": why})
    return {"since": previous.get("built_at"), "added": added, "removed": removed}


def build_report(
    spec: ExhibitSpec,
    choice: Choice,
    chain: ChainRef,
    *,
    built_at: datetime,
    at: datetime,
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The report of one build (JSON values); ``previous``: the last report at the same path
    (:func:`read_previous`), used only when it is of the same spec."""
    items = [_item(s.candidate, True, [r.to_json() for r in s.decision.reasons])
             for s in choice.shown]  # fmt: skip
    items += [_item(e.candidate, False, [r.to_json() for r in e.reasons]) for e in choice.excluded]
    items.sort(key=lambda i: i["id"])
    same_spec = previous if previous and previous.get("spec_id") == spec.spec_id else None
    return {
        "type": REPORT_TYPE,
        "version": 1,
        "spec_id": spec.spec_id,
        "title": dict(spec.title),
        "built_at": _when(built_at),
        "at": _when(at),
        "chain": {"chain_id": chain.chain_id, "registry": chain.registry},
        "counts": {
            "selected": len(items),
            "shown": len(choice.shown),
            "excluded": len(choice.excluded),
        },
        "items": items,
        "changes": changes_since(same_spec, items),
        # Interface words the spec does not translate (shown in English), per language.
        "ui_missing": UiText(spec.ui).missing(spec.languages),
    }


def read_previous(path: Path) -> dict[str, Any] | None:
    """The report at ``path`` if there is one we wrote; None when absent, unreadable or not a
    report (a damaged report only loses the change list, never the build)."""
    try:
        if not path.is_file() or path.stat().st_size > _MAX_REPORT_BYTES:
            return None
        value = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(value, dict) or value.get("type") != REPORT_TYPE:
        return None
    return value


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def report_path_for(out: Path, report: Path | None = None) -> Path:
    """Where the report of a site built in ``out`` goes: ``report``, else ``out`` with
    ``.report.json`` appended, beside it. A path inside the site is refused: the report names
    what the site must not hold."""
    site = Path(os.path.abspath(out))
    chosen = Path(os.path.abspath(report)) if report is not None else site.with_name(
        site.name + ".report.json"
    )
    real_site = site.resolve()
    if _inside(chosen, site) or _inside(chosen.resolve(), real_site):
        raise UsageError(
            f"the build report {chosen} would be inside the site {site}",
            hint="the report is private: write it outside the site (the default is "
            f"{site.name}.report.json beside it)",
        )
    if chosen.is_dir():
        raise UsageError(f"the build report {chosen} is a folder", hint="give a file path")
    return chosen


def write_report(path: Path, document: Mapping[str, Any]) -> None:
    """Write the report as JSON (keys sorted), replacing the old one in one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    temporary.write_text(data, "utf-8")
    os.replace(temporary, path)
