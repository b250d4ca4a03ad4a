"""The read path's cache of raw transactions: content-addressed, so it keeps only bytes that
hash to the name they are kept under, and it stays within its size."""

from __future__ import annotations

from eth_utils.crypto import keccak

from ledger.chain.reads import RawTransactionCache


def test_only_bytes_that_hash_to_their_name_are_kept() -> None:
    cache = RawTransactionCache()
    genuine, forged = b"\x02genuine transaction", b"\x02forged transaction"
    cache.put(keccak(genuine), genuine)
    cache.put(keccak(genuine)[::-1], forged)
    cache.put(keccak(b"other"), forged)
    assert cache.get(keccak(genuine)) == genuine
    assert cache.get(keccak(genuine)[::-1]) is None
    assert cache.get(keccak(b"other")) is None


def test_the_least_recently_used_go_first_beyond_the_size() -> None:
    cache = RawTransactionCache(max_bytes=100)
    raws = [bytes([i]) * 40 for i in range(3)]
    cache.put(keccak(raws[0]), raws[0])
    cache.put(keccak(raws[1]), raws[1])
    assert cache.get(keccak(raws[0])) == raws[0]  # 0 is now the most recently used
    cache.put(keccak(raws[2]), raws[2])  # 120 bytes: one must go, and it is 1
    assert cache.get(keccak(raws[1])) is None
    assert cache.get(keccak(raws[0])) == raws[0]
    assert cache.get(keccak(raws[2])) == raws[2]
    too_big = b"\x00" * 101
    cache.put(keccak(too_big), too_big)
    assert cache.get(keccak(too_big)) is None
    assert cache.get(keccak(raws[2])) == raws[2]
