"""ledger.consent as a package: one public surface, and an import order that always works.

The chain client builds on ``ledger.consent.typed_data`` and the offline protocol builds on the
chain client, so the protocol's names load on first use; these tests hold that any import
order works and that the package names every public name of its modules once."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import ledger.consent

MODULES = ("typed_data", "history", "requests", "status", "describe", "files")


@pytest.mark.parametrize("module", MODULES)
def test_every_public_name_of_each_module_is_the_packages(module: str) -> None:
    holder = importlib.import_module(f"ledger.consent.{module}")
    for name in holder.__all__:
        if name == "check_request":  # the files' and builders' shared check, not a surface
            continue
        assert name in ledger.consent.__all__, name
        assert getattr(ledger.consent, name) is getattr(holder, name), name


def test_the_package_names_nothing_that_is_not_there() -> None:
    for name in ledger.consent.__all__:
        assert hasattr(ledger.consent, name), name
    with pytest.raises(AttributeError, match="no attribute 'consent_files'"):
        _ = ledger.consent.consent_files


@pytest.mark.parametrize("first", ["ledger.chain", "ledger.consent.files", "ledger.registry"])
def test_any_import_order_works(first: str) -> None:
    code = (
        f"import sys, {first}\n"
        "print(sorted(m for m in sys.modules if m.startswith('ledger.consent')))\n"
        "from ledger.consent import ConsentRequest, TypedData, build_request, read_history\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    if first == "ledger.chain":  # the chain client loads typed data, not the protocol
        assert done.stdout.strip() == "['ledger.consent', 'ledger.consent.typed_data']"
