"""CIDv0 text (base58btc) is written and read with the standard library; multiformats, an
independent implementation, is the oracle, and still decides whatever the shortcut does not
vouch for."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multiformats import multibase

from ledger.errors import InvalidCid
from ledger.ipfs.cid import DAG_PB, Cid, _b58, _b58_decode
from tests.reaching import reached, reaches

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@reaches(0.8)
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=48))
def test_base58_writing_agrees_with_multiformats(data: bytes) -> None:
    """Leading zero bytes included (each one a ``1``), and the empty string."""
    assert _b58(data) == str(multibase.encode(data, "base58btc"))[1:]
    assert _b58_decode(_b58(data)) == data
    reached()


@reaches(0.8)
@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=B58 + "0OIl+/", max_size=50))
def test_base58_reading_agrees_with_multiformats(text: str) -> None:
    """The shortcut answers only for canonical base58btc (no character outside the alphabet:
    ``0``, ``O``, ``I``, ``l`` are not in it), and what it answers is what multiformats reads."""
    fast = _b58_decode(text)
    if fast is not None:
        assert bytes(multibase.decode("z" + text)) == fast
    else:
        assert set(text) - set(B58)
    reached()


@reaches(0.8)
@given(st.binary(min_size=1, max_size=64))
def test_a_cidv0_reads_back_from_its_text(block: bytes) -> None:
    cid = Cid.from_digest(hashlib.sha256(block).digest(), DAG_PB, 0)
    text = str(cid)
    assert text.startswith("Qm") and len(text) == 46
    assert text == str(multibase.encode(bytes(cid), "base58btc"))[1:]
    assert Cid.parse(text) == cid
    reached()


def test_a_bad_cidv0_is_refused_in_multiformats_words() -> None:
    """`0` is not base58: the shortcut declines and the error is the one it always was."""
    with pytest.raises(InvalidCid, match="is not a CID"):
        Cid.parse("Qm" + "0" * 44)
