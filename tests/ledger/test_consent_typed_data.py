"""ledger.consent.typed_data's action constructors: each puts every argument in the field of
that name (distinct values, so a swapped argument shows), and what it builds signs and
recovers under the registry's rules. Pure: no chain."""

from __future__ import annotations

import pytest
from eth_account import Account

from ledger import consent

DOMAIN = consent.Domain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
KEYHOLDERS = sorted(
    (Account.create().address for _ in range(3)), key=lambda address: int(address, 16)
)


def _word(tag: int) -> bytes:
    return bytes([tag]) * 32


CASES = [
    (
        consent.set_terms(DOMAIN, _word(1), _word(2), 3, _word(4), 5),
        "SetTerms",
        {"community": _word(1), "subject": _word(2), "version": 3, "terms": _word(4),
         "deadline": 5},
    ),
    (
        consent.revoke_terms(DOMAIN, _word(1), _word(2), 3, 5),
        "RevokeTerms",
        {"community": _word(1), "subject": _word(2), "version": 3, "deadline": 5},
    ),
    (
        consent.rotate_keyholders(DOMAIN, _word(1), tuple(KEYHOLDERS), 2, _word(4), 6, 7),
        "RotateKeyholders",
        {"community": _word(1), "keyholders": KEYHOLDERS, "threshold": 2, "document": _word(4),
         "nonce": 6, "deadline": 7},
    ),
    (
        consent.record_custody(DOMAIN, _word(1), 2, _word(3), _word(4), _word(5), 6, 7),
        "RecordCustody",
        {"item": _word(1), "action": 2, "community": _word(3), "counterparty": _word(4),
         "document": _word(5), "nonce": 6, "deadline": 7},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("typed", "primary", "message"), CASES, ids=[c[1] for c in CASES])
def test_each_argument_lands_in_its_field(
    typed: consent.TypedData, primary: str, message: dict[str, object]
) -> None:
    assert typed.domain == DOMAIN
    assert typed.primary_type == primary
    assert dict(typed.message) == message
    # A list, as a parsed request file holds it: requests compare equal either way they come.
    assert all(not isinstance(v, tuple) for v in typed.message.values())


@pytest.mark.parametrize(("typed", "primary", "message"), CASES, ids=[c[1] for c in CASES])
def test_what_each_builds_signs_and_recovers(
    typed: consent.TypedData, primary: str, message: dict[str, object]
) -> None:
    signer = Account.create()
    signature = consent.sign(typed, bytes(signer.key))
    assert consent.check_signatures(typed.digest(), [signer.address], 1, signature) == [
        signer.address
    ]
