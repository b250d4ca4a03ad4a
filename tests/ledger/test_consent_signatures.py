"""The Python mirror of the registry's signature check (consent.recover_signer,
check_signatures, pack_signatures), held to the rules on its own, without a chain.

Signatures are made by eth-account (not by ledger.consent) with keys generated at run time;
a malleated signature is checked to be a real one with libsecp256k1 directly (coincurve), so a
refusal is the rule at work, not a broken signature. The constants come from SEC 2 (the
secp256k1 group order n) and OpenZeppelin's ECDSA.sol (the largest s it accepts).
"""

from __future__ import annotations

import itertools
import os

import pytest
from coincurve import PublicKey
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st

from ledger import consent
from ledger.consent import SignatureError
from tests.reaching import reached, reaches

# SEC 2 v2 (https://www.secg.org/sec2-v2.pdf) §2.4.1: the order n of secp256k1's base point.
SEC2_N = int(
    "FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFE BAAEDCE6 AF48A03B BFD25E8C D0364141".replace(" ", ""), 16
)
# OpenZeppelin contracts, utils/cryptography/ECDSA.sol, tryRecover: s above this is refused
# ("InvalidSignatureS"), i.e. s must lie in the lower half order.
OZ_MAX_S = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0

DIGEST = keccak(b"heritage ledger: a digest that keyholders sign")


def _accounts(n: int) -> list[LocalAccount]:
    """``n`` fresh accounts, sorted by address (as the contract wants signers)."""
    return sorted((Account.create() for _ in range(n)), key=lambda a: int(a.address, 16))


def _sign(account: LocalAccount, digest: bytes = DIGEST) -> bytes:
    return bytes(Account.unsafe_sign_hash(digest, account.key).signature)


def _parts(signature: bytes) -> tuple[int, int, int]:
    return (int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"),
            signature[64])  # fmt: skip


def _signature(r: int, s: int, v: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((v,))


def _libsecp256k1_signer(digest: bytes, signature: bytes) -> str:
    r, s, v = _parts(signature)
    rs = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    key = PublicKey.from_signature_and_message(rs + bytes((v - 27,)), digest, hasher=None)
    return to_checksum_address(keccak(key.format(compressed=False)[1:])[12:])


def test_the_constants_are_the_published_ones() -> None:
    assert consent.SECP256K1_N == SEC2_N
    assert consent.HALF_ORDER == OZ_MAX_S == SEC2_N // 2
    assert consent.SIGNATURE_LENGTH == 65


def test_k_of_n_by_increasing_address_is_accepted_and_names_its_signers() -> None:
    a, b, c = _accounts(3)
    keyholders = [a.address, b.address, c.address]
    for signers in ([a, b], [a, c], [b, c], [a, b, c]):
        packed = b"".join(_sign(x) for x in signers)
        assert consent.check_signatures(DIGEST, keyholders, 2, packed) == [
            x.address for x in signers
        ]
    # lower-case keyholder addresses are the same keyholders
    lower = [k.lower() for k in keyholders]
    assert consent.check_signatures(DIGEST, lower, 1, _sign(b)) == [b.address]


def test_a_duplicate_signer_is_refused() -> None:
    a, b, _ = _accounts(3)
    twice = _sign(a) + _sign(a)
    with pytest.raises(SignatureError, match=r"signature 1 is by .* not a keyholder or is out of"):
        consent.check_signatures(DIGEST, [a.address, b.address], 2, twice)
    # a keyholder counts once, also after another keyholder has signed
    with pytest.raises(SignatureError, match="signature 2 is by"):
        consent.check_signatures(DIGEST, [a.address, b.address], 3, _sign(a) + _sign(b) + _sign(b))
    with pytest.raises(SignatureError, match="signed twice"):
        consent.pack_signatures([(a.address, _sign(a)), (a.address.lower(), _sign(a))])


def test_signers_out_of_increasing_order_are_refused() -> None:
    a, b, c = _accounts(3)
    keyholders = [a.address, b.address, c.address]
    with pytest.raises(SignatureError, match=r"signature 1 is by .* out of order"):
        consent.check_signatures(DIGEST, keyholders, 2, _sign(b) + _sign(a))
    with pytest.raises(SignatureError, match="signature 2 is by"):
        consent.check_signatures(DIGEST, keyholders, 3, _sign(a) + _sign(c) + _sign(b))
    # pack_signatures puts them in the order the check wants
    packed = consent.pack_signatures([(c.address, _sign(c)), (a.address, _sign(a))])
    assert packed == _sign(a) + _sign(c)
    assert consent.check_signatures(DIGEST, keyholders, 2, packed) == [a.address, c.address]


def test_a_signer_who_is_not_a_keyholder_is_refused() -> None:
    a, b, stranger = _accounts(3)
    for packed, index in ((_sign(stranger), 0), (_sign(a) + _sign(stranger), 1)):
        with pytest.raises(SignatureError, match=f"signature {index} is by {stranger.address}"):
            consent.check_signatures(DIGEST, [a.address, b.address], 1, packed)
    # a signature of another digest recovers someone else: not a keyholder either
    other = _sign(a, keccak(b"another digest"))
    with pytest.raises(SignatureError, match="not a keyholder"):
        consent.check_signatures(DIGEST, [a.address, b.address], 1, other)


def test_fewer_signatures_than_the_threshold_are_refused() -> None:
    a, b, c = _accounts(3)
    with pytest.raises(SignatureError, match="1 signatures given, 2 required"):
        consent.check_signatures(DIGEST, [a.address, b.address, c.address], 2, _sign(a))
    with pytest.raises(SignatureError, match="0 signatures given, 1 required"):
        consent.check_signatures(DIGEST, [a.address], 1, b"")


def test_a_high_s_signature_is_refused_though_it_is_valid() -> None:
    (a,) = _accounts(1)
    r, s, v = _parts(_sign(a))
    assert s <= OZ_MAX_S  # eth-account makes low-s signatures
    malleated = _signature(r, SEC2_N - s, 55 - v)  # (r, n - s) with the other parity
    assert _libsecp256k1_signer(DIGEST, malleated) == a.address  # a real signature of a's
    with pytest.raises(SignatureError, match="signature 0 has a high s value"):
        consent.recover_signer(DIGEST, malleated)
    with pytest.raises(SignatureError, match="signature 1 has a high s value"):
        consent.check_signatures(DIGEST, [a.address], 1, _sign(a) + malleated)


def test_s_at_the_largest_accepted_value_is_not_called_high() -> None:
    (a,) = _accounts(1)
    r, _, v = _parts(_sign(a))
    edge = _signature(r, OZ_MAX_S, v)  # accepted by the rule; recovers some other key
    recovered = consent.recover_signer(DIGEST, edge)
    assert recovered == _libsecp256k1_signer(DIGEST, edge) != a.address
    with pytest.raises(SignatureError, match="high s"):
        consent.recover_signer(DIGEST, _signature(r, OZ_MAX_S + 1, v))


@pytest.mark.parametrize("length", [1, 64, 66, 129, 131])
def test_packed_signatures_of_a_wrong_length_are_refused(length: int) -> None:
    (a,) = _accounts(1)
    packed = (_sign(a) * 3)[:length]
    with pytest.raises(SignatureError, match=f"{length} bytes, not a multiple of 65"):
        consent.check_signatures(DIGEST, [a.address], 1, packed)


@pytest.mark.parametrize("length", [0, 64, 66, 130])
def test_one_signature_of_a_wrong_length_is_refused(length: int) -> None:
    (a,) = _accounts(1)
    signature = (_sign(a) * 2)[:length]
    with pytest.raises(SignatureError, match=f"signature 0 is {length} bytes; exactly 65"):
        consent.recover_signer(DIGEST, signature)


@pytest.mark.parametrize("v", [0, 1, 26, 29, 255])
def test_v_other_than_27_or_28_is_refused(v: int) -> None:
    (a,) = _accounts(1)
    r, s, _ = _parts(_sign(a))
    with pytest.raises(SignatureError, match=f"signature 0 has v = {v}; only 27 and 28"):
        consent.recover_signer(DIGEST, _signature(r, s, v))


def test_r_or_s_outside_the_group_is_refused() -> None:
    (a,) = _accounts(1)
    r, s, v = _parts(_sign(a))
    for bad_r, bad_s in ((0, s), (SEC2_N, s), (SEC2_N + 1, s), (2**256 - 1, s), (r, 0)):
        with pytest.raises(SignatureError, match="not a valid secp256k1 signature"):
            consent.recover_signer(DIGEST, _signature(bad_r, bad_s, v))
    # 1 and the largest r below n are in range: judged by recovery, not refused as out of range
    for edge in (1, SEC2_N - 1):
        try:
            consent.recover_signer(DIGEST, _signature(edge, s, v))
        except SignatureError as refused:
            assert "recovers no public key" in str(refused)


def test_both_parities_recover_with_libsecp256k1() -> None:
    seen = set()
    for account in _accounts(12):
        signature = _sign(account)
        seen.add(signature[64])
        assert consent.recover_signer(DIGEST, signature) == account.address
        assert consent.recover_signer(DIGEST, signature) == _libsecp256k1_signer(DIGEST, signature)
    assert seen == {27, 28}  # twelve keys: both parities, but for a 2**-11 chance


KEYS = _accounts(5)


@reaches(0.8)
@given(
    st.lists(st.sampled_from(range(5)), min_size=1, max_size=6),
    st.integers(1, 5),
    st.binary(min_size=32, max_size=32),
)
def test_any_sequence_of_keyholder_signatures_is_judged_as_the_contract_does(
    order: list[int], required: int, digest: bytes
) -> None:
    """Accepted exactly when the signers strictly increase and reach the threshold."""
    packed = b"".join(_sign(KEYS[i], digest) for i in order)
    keyholders = [k.address for k in KEYS]
    increasing = all(x < y for x, y in itertools.pairwise(order))
    if increasing and len(order) >= required:
        assert consent.check_signatures(digest, keyholders, required, packed) == [
            KEYS[i].address for i in order
        ]
        reached("accepted")
    else:
        with pytest.raises(SignatureError):
            consent.check_signatures(digest, keyholders, required, packed)
        reached("refused")


def test_random_bytes_are_never_a_keyholders_signature() -> None:
    a, b = _accounts(2)
    for _ in range(50):
        noise = os.urandom(65)
        with pytest.raises(SignatureError):
            consent.check_signatures(DIGEST, [a.address, b.address], 1, noise)
