"""Gas of the registry's actions on the pinned anvil, against the Ethereum Attestation Service.

Starts an anvil of its own (temporary data directory, free port), deploys the registry,
creates a 2-of-3 community (keys made at run time) and measures ``gasUsed`` of:

* a single registration with its terms (``registerItemPacked``, as the client sends it:
  36-byte CIDv1, random metadata and terms digests, no commitment), 2 signatures; the
  median over several items;
* batches of 1, 10, 100 and 1,000 items: one ``registerBatch`` of the StandardMerkleTree
  root, its gas divided by the number of items;
* a terms change (``setTerms``, version 2), a revocation (``revokeTerms``) and the
  revocation of one item inside a 1,000-item batch (``revokeBatchItem``, 10-node proof);
* derivatives (``registerDerivative``) with the parent steward's ConsentDerivative: of the
  community's own claim (its keyholders sign both, 2 + 2 signatures), and of another 2-of-3
  community's claim (2 signatures each);
* a corrected description (``setDescription``, version 2, then 3), 2 signatures.

Reference: EAS spends 180,132 gas on one attestation of 32 bytes (eas-contracts 1.9.0).
Targets: single ≤ 65,000 (stretch 60,000); batched ≤ 2,500 per item at 1,000 items.
Prints a table, then one JSON object as the last line.

    .venv/bin/python bench/gas.py --quick
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
from pathlib import Path

from _world import free_port
from eth_account import Account
from eth_account.signers.local import LocalAccount

from contracts import load_artifact
from ledger import consent
from ledger.chain import (
    Community,
    Party,
    Record,
    Registration,
    RegistryClient,
    TxJournal,
    batch_item_subject,
    batch_key,
    connect,
    content_key,
)
from ledger.merkle import BATCH_LEAF_TYPES, StandardMerkleTree
from ledger.settings import load_settings
from local_chain import REGISTRY_CONTRACT, anvil_dev_account, chain_down, chain_up

EAS_ATTESTATION_GAS = 180_132
SINGLE_TARGET = 65_000
SINGLE_STRETCH = 60_000
BATCH_TARGET_PER_ITEM = 2_500
DEADLINE = 2**64 - 1
BATCH_SIZES = (1, 10, 100, 1000)


def digest(rng: random.Random) -> bytes:
    return rng.randbytes(32)


def cid(rng: random.Random) -> bytes:
    return bytes.fromhex("01551220") + rng.randbytes(32)  # CIDv1, raw, sha2-256


def packed(typed: consent.TypedData, signers: list[LocalAccount]) -> bytes:
    return consent.pack_signatures((a.address, consent.sign(typed, bytes(a.key))) for a in signers)


def create_community(
    client: RegistryClient, rng: random.Random
) -> tuple[Community, list[LocalAccount]]:
    """A 2-of-3 community (keys made at run time) and the two keyholders that sign for it."""
    keys = sorted((Account.create() for _ in range(3)), key=lambda a: int(a.address, 16))
    salt = rng.randbytes(32)
    community = Community.founded(salt, [a.address for a in keys], 2)
    document = digest(rng)
    create = consent.TypedData(
        client.domain(),
        "CreateCommunity",
        {
            "community": community.id,
            "keyholders": list(community.keyholders),
            "threshold": 2,
            "document": document,
            "deadline": DEADLINE,
        },
    )
    client.create_community(community, salt, document, DEADLINE, packed(create, keys))
    return community, [keys[0], keys[2]]


def register_one(
    client: RegistryClient,
    domain: consent.Domain,
    rng: random.Random,
    community: Community,
    signers: list[LocalAccount],
) -> Registration:
    """One item with random metadata and terms digests and no commitment, as the client
    sends it (registerItemPacked), signed by ``signers``."""
    c, metadata, terms = cid(rng), digest(rng), digest(rng)
    typed = consent.TypedData(
        domain,
        "RegisterItem",
        {
            "community": community.id,
            "cid": c,
            "metadata": metadata,
            "terms": terms,
            "commitment": bytes(32),
            "deadline": DEADLINE,
        },
    )
    return client.register_item(
        community, c, metadata, terms, bytes(32), DEADLINE, packed(typed, signers)
    )


def derivative_gas(
    client: RegistryClient,
    rng: random.Random,
    parent: tuple[bytes, Record],
    steward: tuple[Community, list[LocalAccount]],
    deriver: tuple[Community, list[LocalAccount]],
) -> int:
    """Gas of one ``registerDerivative`` by ``deriver`` of the claim ``parent``, with the
    ConsentDerivative signatures of the parent's steward."""
    domain = client.domain()
    (key, record), (holder, holder_signers), (community, signers) = parent, steward, deriver
    c, metadata, terms, method = cid(rng), digest(rng), digest(rng), digest(rng)
    register = consent.TypedData(
        domain,
        "RegisterDerivative",
        {
            "community": community.id,
            "parent": key,
            "cid": c,
            "metadata": metadata,
            "terms": terms,
            "method": method,
            "aiEnhanced": False,
            "deadline": DEADLINE,
        },
    )
    agree = consent.derivative_consent(domain, key, community.id, c, method, False, DEADLINE)
    return client.register_derivative(
        community,
        key,
        c,
        metadata,
        terms,
        method,
        False,
        DEADLINE,
        packed(register, signers),
        record,
        Party(holder, packed(agree, holder_signers)),
    ).outcome.gas_used


def measure(client: RegistryClient, singles: int, rng: random.Random) -> dict[str, object]:
    domain = client.domain()
    community, signers = create_community(client, rng)

    single: list[int] = []
    last: tuple[bytes, Record] | None = None
    for _ in range(singles):
        reg = register_one(client, domain, rng, community, signers)
        single.append(reg.outcome.gas_used)
        last = (reg.key, reg.record)
    assert last is not None

    batches: dict[int, int] = {}
    big: tuple[StandardMerkleTree, Record] | None = None
    for size in BATCH_SIZES:
        values = [(content_key(cid(rng)), digest(rng), bytes(32)) for _ in range(size)]
        tree = StandardMerkleTree.of(values, BATCH_LEAF_TYPES)
        terms = digest(rng)
        manifest = digest(rng)
        typed = consent.TypedData(
            domain,
            "RegisterBatch",
            {
                "community": community.id,
                "root": tree.root,
                "count": size,
                "terms": terms,
                "manifest": manifest,
                "deadline": DEADLINE,
            },
        )
        reg = client.register_batch(
            community, tree.root, size, terms, manifest, DEADLINE, packed(typed, signers)
        )
        batches[size] = reg.outcome.gas_used
        big = (tree, reg.record)
    assert big is not None

    key, record = last
    new_terms = digest(rng)
    typed = consent.TypedData(
        domain,
        "SetTerms",
        {
            "community": community.id,
            "subject": key,
            "version": 2,
            "terms": new_terms,
            "deadline": DEADLINE,
        },
    )
    set_terms = client.set_terms(
        key, record, community, 2, new_terms, DEADLINE, packed(typed, signers)
    ).gas_used
    typed = consent.TypedData(
        domain,
        "RevokeTerms",
        {"community": community.id, "subject": key, "version": 2, "deadline": DEADLINE},
    )
    revoke = client.revoke_terms(
        key, record, community, 2, DEADLINE, packed(typed, signers)
    ).gas_used
    tree, batch_record = big
    index = len(tree) // 2
    item, metadata, commitment = tree.values[index]
    typed = consent.TypedData(
        domain,
        "RevokeTerms",
        {
            "community": community.id,
            "subject": batch_item_subject(batch_key(community.id, tree.root), item),
            "version": 1,
            "deadline": DEADLINE,
        },
    )
    revoke_batch_item = client.revoke_batch_item(
        tree.root,
        batch_record,
        item,
        metadata,
        commitment,
        tree.proof(index),
        community,
        1,
        DEADLINE,
        packed(typed, signers),
    ).gas_used

    # Derivatives last, so that the figures above draw the same random values as before.
    parent = register_one(client, domain, rng, community, signers)
    own = (community, signers)
    derivative_own = derivative_gas(client, rng, (parent.key, parent.record), own, own)
    other = create_community(client, rng)
    derivative_other = derivative_gas(client, rng, (parent.key, parent.record), own, other)

    # Corrections last of all, for the same reason.
    set_description: list[int] = []
    for version in (2, 3):
        described = digest(rng)
        typed = consent.set_description(
            domain, community.id, parent.key, version, described, DEADLINE
        )
        set_description.append(
            client.set_description(
                parent.key, parent.record, community, version, described, DEADLINE,
                packed(typed, signers),
            ).gas_used
        )  # fmt: skip

    return {
        "single_gas": int(statistics.median(single)),
        "single_gas_min": min(single),
        "single_gas_max": max(single),
        "single_samples": len(single),
        **{f"batch{size}_gas": gas for size, gas in batches.items()},
        **{f"batch{size}_gas_per_item": round(gas / size, 1) for size, gas in batches.items()},
        "set_terms_gas": set_terms,
        "revoke_terms_gas": revoke,
        "revoke_batch_item_gas": revoke_batch_item,
        "derivative_own_parent_gas": derivative_own,
        "derivative_other_parent_gas": derivative_other,
        "set_description_first_gas": set_description[0],
        "set_description_next_gas": set_description[1],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="5 single registrations, not 50")
    args = parser.parse_args()
    rng = random.Random(20240611)
    with tempfile.TemporaryDirectory(prefix="heritage-gas-") as tmp:
        settings = load_settings(
            env={}, data_dir=Path(tmp), rpc_url=f"http://127.0.0.1:{free_port()}", fsync=False
        )
        up = chain_up(settings, load_artifact(REGISTRY_CONTRACT))
        try:
            assert up.deployment is not None
            client = RegistryClient(
                connect(settings.rpc_url),
                up.deployment.registry_address,
                anvil_dev_account(),
                TxJournal(Path(tmp) / "journal", fsync=False),
            )
            report = measure(client, 5 if args.quick else 50, rng)
        finally:
            chain_down(settings)
    single = int(report["single_gas"])  # type: ignore[call-overload]
    per_item = float(report["batch1000_gas_per_item"])  # type: ignore[arg-type]
    report |= {
        "eas_attestation_gas": EAS_ATTESTATION_GAS,
        "ratio_single_vs_eas": round(single / EAS_ATTESTATION_GAS, 4),
        "single_target": SINGLE_TARGET,
        "single_stretch": SINGLE_STRETCH,
        "batch_target_per_item": BATCH_TARGET_PER_ITEM,
        "single_meets_target": single <= SINGLE_TARGET,
        "single_meets_stretch": single <= SINGLE_STRETCH,
        "batch_meets_target": per_item <= BATCH_TARGET_PER_ITEM,
        "anvil": "1.7.1",
    }
    print(f"reference: EAS attestation {EAS_ATTESTATION_GAS:,} gas (eas-contracts 1.9.0)")
    print(
        f"targets:   single ≤ {SINGLE_TARGET:,} (stretch {SINGLE_STRETCH:,}); "
        f"batch ≤ {BATCH_TARGET_PER_ITEM:,}/item at 1,000"
    )
    print(
        f"single registration with terms, 2 of 3: {single:,} gas (median of "
        f"{report['single_samples']}; {report['single_gas_min']:,}–{report['single_gas_max']:,})"
        f" = {single / EAS_ATTESTATION_GAS:.3f} × EAS "
        f"[{'ok' if single <= SINGLE_TARGET else 'OVER TARGET'}]"
    )
    for size in BATCH_SIZES:
        print(
            f"batch of {size:>5,}: {report[f'batch{size}_gas']:>7,} gas = "
            f"{report[f'batch{size}_gas_per_item']:>10,} gas/item"
        )
    print(
        f"set terms: {report['set_terms_gas']:,}   revoke terms: {report['revoke_terms_gas']:,}"
        f"   revoke one item of a 1,000-item batch: {report['revoke_batch_item_gas']:,}"
    )
    print(
        "derivative with the parent steward's consent: of its own claim "
        f"{report['derivative_own_parent_gas']:,}   of another community's claim "
        f"{report['derivative_other_parent_gas']:,}"
    )
    print(
        f"corrected description: the first {report['set_description_first_gas']:,}   "
        f"a later one {report['set_description_next_gas']:,}"
    )
    sys.stdout.flush()
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
