"""Mutation testing of the security-critical modules, one module at a time, with cosmic-ray.

Each target names a module, the functions (or module-level constants) of it that are mutated,
and the only test files that run against each mutant: running the whole suite per mutant
would take days on a small machine. For every target the driver

1. copies this work tree (tracked and untracked files, not ignored ones) into a scratch
   directory, so the tree you work in is never mutated and stays usable meanwhile;
2. runs the target's tests once unmutated (they must pass; their time sets the timeout);
3. lets ``cosmic-ray init`` list every mutant of the module, and marks as skipped those
   outside the target's functions (and, with ``--sample``, all but a seeded sample);
4. lets ``cosmic-ray exec`` run the tests against each remaining mutant;
5. reports killed / total per module, every survivor with its line, function and diff, as
   ``build/mutation/<target>.json`` and a summary table ``build/mutation/summary.md``.

Usage: ``python tools/mutate.py [TARGET ...] [--sample N] [--floor 0.9] [--keep]``.
Exits 1 when a module's kill rate is under the floor. docs/testing.md explains the targets,
the figures, and why each survivor is harmless or equivalent.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cosmic_ray.work_db import WorkDB, use_db  # type: ignore[import-untyped]
from cosmic_ray.work_item import (  # type: ignore[import-untyped]
    TestOutcome,
    WorkerOutcome,
    WorkResult,
)

ROOT = Path(__file__).resolve().parents[1]
PYTHON = Path(sys.executable)
REPORTS = ROOT / "build" / "mutation"
DOC = ROOT / "docs" / "testing.md"
EQUIVALENTS_BEGIN = "<!-- BEGIN equivalent mutants -->"
EQUIVALENTS_END = "<!-- END equivalent mutants -->"


def documented_equivalents() -> dict[tuple[str, str, str], str]:
    """(target, operator, source line) → why the survivor is equivalent or harmless, from the
    table in docs/testing.md. A survivor listed there does not count against the score."""
    text = DOC.read_text("utf-8") if DOC.is_file() else ""
    block = text.split(EQUIVALENTS_BEGIN, 1)[-1].split(EQUIVALENTS_END, 1)[0]
    found: dict[tuple[str, str, str], str] = {}
    for line in block.splitlines():
        # cells split on unescaped pipes; "\|" in a cell is a pipe of the source line
        cells = [
            c.strip().replace("\\|", "|")
            for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))
        ]
        if len(cells) != 4 or not cells[1].startswith("`"):
            continue
        target, source, operator, why = cells
        found[(target, operator, source.strip("`").strip())] = why
    return found


@dataclass(frozen=True, slots=True)
class Target:
    """One module under mutation: what of it is mutated, and which tests judge a mutant."""

    module: str
    tests: tuple[str, ...]
    # Qualified names of functions or methods ("Class.method"), or of module-level names
    # (constants); empty: the whole module.
    parts: tuple[str, ...] = ()
    pytest_args: tuple[str, ...] = ()
    note: str = ""
    # Mutate a seeded random sample of this many mutants (None: all of them): for targets
    # whose tests need a chain or the reference importer, seconds per mutant.
    sample: int | None = None
    # The tests need no fixture of tests/conftest.py: pytest runs without it (its imports,
    # web3 and the servers, take seconds of every mutant's run).
    conftest: bool = True


TARGETS: dict[str, Target] = {
    "policy": Target(
        "ledger/rights/policy.py",
        ("tests/ledger/test_rights_policy.py", "tests/ledger/test_policy_expectations.py"),
        ("Effect", "PolicyRule", "Reason", "DisplayDecision", "_ACCESS", "_REVIEWED_OPEN",
         "_LICENSES_ALLOWED", "_STATEMENTS", "_LABEL_EFFECTS", "OTHER_LICENSES", "_table",
         "POLICY_TABLE", "_BY_KEY", "_rule", "_in_season", "_copyright", "_labels", "_window",
         "_require_aware", "decide", "decide_document", "requires_encryption",
         "policy_table_markdown"),
        note="the whole module but its `__main__` block (which rewrites the doc's table)",
        conftest=False,
    ),
    "consent": Target(
        "ledger/consent/typed_data.py",
        ("tests/ledger/test_consent_signatures.py",),
        ("SECP256K1_N", "HALF_ORDER", "SIGNATURE_LENGTH", "recover_signer", "recover_address",
         "check_signatures", "pack_signatures"),
        note="signature checking: the constants and the four functions that check signatures",
        conftest=False,
    ),
    "crypto": Target(
        "ledger/crypto.py",
        ("tests/ledger/test_crypto.py",),
        ("COMMITMENT_DOMAIN", "SALT_BYTES", "plaintext_commitment", "CONTENT_KEY_BYTES",
         "STREAM_MAGIC", "STREAM_VERSION", "_PREFIX_BYTES", "HEADER_BYTES", "TAG_BYTES",
         "MIN_SEGMENT_SIZE", "MAX_SEGMENT_SIZE", "_check_content_key", "_stream_key", "_nonce",
         "_read_full", "encrypt_stream", "decrypt_stream", "open_bytes", "decrypt_file",
         "_wrap_info", "unwrap", "rewrap", "Envelope.from_document", "_hex32"),
        note="the commitment, the content stream and the envelope checks (not key files, "
        "not HPKE suite plumbing)",
        conftest=False,
    ),
    "decrypt": Target(
        "ledger/registry/sealing.py",
        ("tests/ledger/test_decryption_integrity.py",),
        ("Sealing.decrypt", "_decryption_mismatch"),
        note="the decryption path of a registered item: its integrity checks against the "
        "sealed metadata and the commitment on chain",
    ),
    "car": Target(
        "ledger/ipfs/car.py",
        ("tests/ledger/ipfs/test_car.py",),
        ("MAX_HEADER_SIZE", "MAX_SECTION_SIZE", "_CID_TAG", "_decode_header", "CarReader"),
        note="the CAR reader (not the writer)",
        sample=60,
    ),
    "unixfs": Target(
        "ledger/ipfs/unixfs.py",
        ("tests/ledger/ipfs/test_unixfs.py",),
        ("CHUNK_SIZE", "MAX_LINKS", "HAMT_THRESHOLD", "_directory_node"),
        pytest_args=("-k", "threshold or sharding or hello_world or empty or file_matches"),
        note="the layout constants and the directory threshold check",
    ),
    "evidence": Target(
        "ledger/verify/assess.py",
        ("tests/ledger/test_verify.py",),
        ("_CallChecks.same", "_CallChecks.signatures", "_KeyholderChecks._check_timeline",
         "_Checker._check_registration", "_check_documents", "_Checker._custody"),
        pytest_args=("-k", "forged or edited or tampered or reseals or calldata or rotated"),
        note="verification's evidence checks (signatures, keyholder timeline, registration "
        "against its calldata, documents, custody)",
        sample=50,
    ),
}


# cosmic-ray replaces every binary operator by each of the eleven others and every comparison
# by each of the seven others. Most of those are redundant with one another and cost a test
# run each; here a binary operator becomes only its natural counterpart, and comparisons are
# not turned into identity tests (`is`, `is not`), which on ints and strings mostly behave as
# `==`/`!=` or are refused by Python with a SyntaxWarning, nor identity tests into the
# equality tests they equal. Everything else cosmic-ray offers
# is kept: comparisons, numbers, booleans, `not`, and/or, unary operators, break/continue,
# loops run zero times, exception handlers, decorators.
_BINARY_COUNTERPART = {
    "Add": "Sub", "Sub": "Add", "Mul": "Div", "Div": "Mul", "FloorDiv": "Mul", "Mod": "FloorDiv",
    "Pow": "Mul", "LShift": "RShift", "RShift": "LShift", "BitOr": "BitAnd", "BitAnd": "BitOr",
    "BitXor": "BitOr",
}


def _operator_kept(name: str) -> bool:
    operator = name.rsplit("/", 1)[-1]
    if operator.startswith("ReplaceBinaryOperator_"):
        _, source, replacement = operator.split("_")
        return _BINARY_COUNTERPART.get(source) == replacement
    if operator.startswith("ReplaceComparisonOperator_"):
        # `x is y` → `x == y` (and `is not` → `!=`) on None and enum members, the only
        # things compared by identity here, is the same test.
        if operator.endswith(("_Is_Eq", "_IsNot_NotEq")):
            return False
        return not operator.endswith(("_Is", "_IsNot"))
    return True


def _spans(source: str, parts: tuple[str, ...]) -> list[tuple[int, int]]:
    """The line spans (inclusive) of the named functions, methods and module-level names."""
    tree = ast.parse(source)
    found: dict[str, tuple[int, int]] = {}
    for node in tree.body:
        end = node.end_lineno or node.lineno
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found[node.name] = (node.lineno, end)
            if isinstance(node, ast.ClassDef):
                for inner in node.body:
                    if isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef):
                        found[f"{node.name}.{inner.name}"] = (
                            inner.lineno, inner.end_lineno or inner.lineno)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        found[name.id] = (node.lineno, end)
    missing = [p for p in parts if p not in found]
    if missing:
        raise SystemExit(f"error: not found in the module: {', '.join(missing)}")
    return [found[p] for p in parts]


def _function_of(source: str) -> dict[int, str]:
    """Line → the innermost function (or module-level name) it belongs to, for reports."""
    owner: dict[int, str] = {}
    tree = ast.parse(source)

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                for line in range(child.lineno, (child.end_lineno or child.lineno) + 1):
                    owner[line] = name
                visit(child, name + ".")
            elif isinstance(child, ast.Assign | ast.AnnAssign) and not prefix:
                for line in range(child.lineno, (child.end_lineno or child.lineno) + 1):
                    owner.setdefault(line, "(module level)")

    visit(tree, "")
    return owner


def _copy_tree(destination: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if not (source.exists() or source.is_symlink()):
            continue  # deleted in the work tree, not yet committed
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    # npm's packages (anvil, solc, the JS reference tools) are ignored by git, not copied:
    # the scratch tree uses this tree's, read-only as far as the tests go.
    if (ROOT / "node_modules").is_dir():
        (destination / "node_modules").symlink_to(ROOT / "node_modules", target_is_directory=True)


def _test_command(target: Target, tree: Path) -> list[str]:
    return [
        str(PYTHON), "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
        "--rootdir", str(tree), *target.pytest_args,
        *(() if target.conftest else ("--noconftest", "-p", "tests.hypothesis_profiles")),
        *(str(tree / t) for t in target.tests),
    ]


def _environment(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)
    env["HYPOTHESIS_PROFILE"] = "mutation"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_target(
    name: str, target: Target, sample: int | None, keep: bool, retest: bool = False
) -> dict[str, object]:
    sample = sample if sample is not None else target.sample
    previous: dict[str, Any] | None = None
    if retest:
        previous = json.loads((REPORTS / f"{name}.json").read_text("utf-8"))
    work = Path(tempfile.mkdtemp(prefix=f"heritage-mutate-{name}-"))
    tree = work / "tree"
    try:
        _copy_tree(tree)
        env = _environment(tree)
        command = _test_command(target, tree)
        started = time.monotonic()
        baseline = subprocess.run(command, cwd=tree, env=env, capture_output=True, check=False)
        seconds = time.monotonic() - started
        if baseline.returncode != 0:
            sys.stderr.write(baseline.stdout.decode()[-4000:])
            raise SystemExit(f"error: the {name} tests fail before any mutation")
        timeout = max(30.0, 4 * seconds)
        config = work / "config.toml"
        config.write_text(
            "[cosmic-ray]\n"
            f"module-path = {json.dumps(target.module)}\n"
            f"timeout = {timeout:.0f}\n"
            "excluded-modules = []\n"
            f"test-command = {json.dumps(' '.join(command))}\n"
            "[cosmic-ray.distributor]\n"
            'name = "local"\n',
            "utf-8",
        )
        session = work / "session.sqlite"
        subprocess.run(
            [str(PYTHON), "-m", "cosmic_ray.cli", "init", str(config), str(session)],
            cwd=tree, env=env, check=True,
        )
        source = (tree / target.module).read_text("utf-8")
        spans = _spans(source, target.parts) if target.parts else [(1, 10**9)]
        with use_db(str(session)) as db:
            in_scope = _restrict(db, spans, sample, previous)
        sys.stdout.write(
            f"==> {name}: {in_scope} mutants of {target.module} "
            f"(tests {seconds:.1f} s unmutated, timeout {timeout:.0f} s)\n"
        )
        sys.stdout.flush()
        subprocess.run(
            [str(PYTHON), "-m", "cosmic_ray.cli", "exec", str(config), str(session)],
            cwd=tree, env=env, check=True,
        )
        with use_db(str(session), WorkDB.Mode.open) as db:
            return _report(name, target, source, db, sample, seconds, previous)
    finally:
        if keep:
            sys.stdout.write(f"    kept {work}\n")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _identity(line: int, operator: str, occurrence: int) -> str:
    return f"{line}:{operator}:{occurrence}"


def _restrict(
    db: WorkDB,
    spans: list[tuple[int, int]],
    sample: int | None,
    previous: dict[str, Any] | None = None,
) -> int:
    skipped = WorkResult(worker_outcome=WorkerOutcome.SKIPPED)
    inside: list[str] = []
    again = (
        {_identity(s["line"], s["operator"], s["occurrence"]) for s in previous["survivors"]}
        if previous is not None
        else None
    )
    for item in db.pending_work_items:
        mutation = item.mutations[0]
        line = mutation.start_pos[0]
        if again is not None:
            wanted = _identity(line, mutation.operator_name, mutation.occurrence) in again
        else:
            wanted = _operator_kept(mutation.operator_name) and any(
                first <= line <= last for first, last in spans
            )
        if wanted:
            inside.append(item.job_id)
        else:
            db.set_result(item.job_id, skipped)
    if again is None and sample is not None and sample < len(inside):
        kept = set(random.Random(14).sample(inside, sample))  # noqa: S311 (not for secrets)
        for job_id in inside:
            if job_id not in kept:
                db.set_result(job_id, skipped)
        return sample
    return len(inside)


def _report(
    name: str,
    target: Target,
    source: str,
    db: WorkDB,
    sample: int | None,
    seconds: float,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    owners = _function_of(source)
    # Retesting the survivors of the last run: its killed mutants stay killed (the tests only
    # grew since), and its survivors are judged again by today's tests.
    killed = int(previous["killed"]) if previous is not None else 0
    survivors: list[dict[str, object]] = []
    total = killed
    for item, result in db.completed_work_items:
        if result.worker_outcome == WorkerOutcome.SKIPPED:
            continue
        total += 1
        if result.test_outcome == TestOutcome.SURVIVED:
            mutation = item.mutations[0]
            line = mutation.start_pos[0]
            survivors.append({
                "line": line,
                "function": owners.get(line, "(module level)"),
                "operator": mutation.operator_name,
                "occurrence": mutation.occurrence,
                "source": source.splitlines()[line - 1].strip(),
                "diff": result.diff or "",
            })
        else:
            killed += 1
    survivors.sort(key=lambda s: (int(str(s["line"])), str(s["operator"])))
    report: dict[str, Any] = {
        "target": name,
        "module": target.module,
        "scope": list(target.parts) or ["(whole module)"],
        "tests": list(target.tests),
        "pytest_args": list(target.pytest_args),
        "sampled": sample,
        "retested_survivors_of_an_earlier_run": previous is not None,
        "mutants": total,
        "killed": killed,
        "survived": len(survivors),
        "kill_rate": killed / total if total else 1.0,
        "unmutated_test_seconds": round(seconds, 1),
        "survivors": survivors,
    }
    _judge(report)
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    return report


def _judge(report: dict[str, Any]) -> None:
    """Mark the survivors docs/testing.md documents. The score is the share killed among the
    mutants that a test could kill at all: equivalent ones (same behaviour) are left out;
    harmless ones (behaviour changes that cannot matter) still count as not killed."""
    equivalents = documented_equivalents()
    for survivor in report["survivors"]:
        key = (report["target"], str(survivor["operator"]).removeprefix("core/"),
               str(survivor["source"]))  # fmt: skip
        survivor["documented"] = equivalents.get(key)
    documented = [str(s["documented"]) for s in report["survivors"] if s["documented"]]
    equivalent = sum(1 for why in documented if why.startswith("equivalent"))
    judged = int(report["mutants"]) - equivalent
    report["documented_equivalent"] = len(documented)
    report["equivalent"] = equivalent
    report["undocumented"] = len(report["survivors"]) - len(documented)
    report["score"] = int(report["killed"]) / judged if judged else 1.0


def _summary(reports: list[dict[str, Any]]) -> str:
    lines = [
        "| target | module | mutants | killed | survived: equivalent / harmless / undocumented "
        "| kill rate | killed of the non-equivalent |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        harmless = int(r["documented_equivalent"]) - int(r["equivalent"])
        lines.append(
            f"| {r['target']} | `{r['module']}` | {r['mutants']} | {r['killed']} | "
            f"{r['survived']}: {r['equivalent']} / {harmless} / {r['undocumented']} | "
            f"{100 * float(str(r['kill_rate'])):.1f} % | {100 * float(str(r['score'])):.1f} % |"
        )
    for r in reports:
        survivors = r["survivors"]
        assert isinstance(survivors, list)
        if survivors:
            lines += ["", f"Survivors in {r['module']}:"]
            lines += [
                f"- line {s['line']} ({s['function']}), {s['operator']}: `{s['source']}`"
                + ("" if s.get("documented") else "  **(not documented)**")
                for s in survivors
            ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", metavar="TARGET",
                        help=f"some of: {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--sample", type=int, default=None,
                        help="mutate only N mutants of each target (seeded, reproducible; "
                        "default: each target's own setting)")
    parser.add_argument("--floor", type=float, default=0.9,
                        help="fail when a module's score (killed among the mutants not "
                        "documented as equivalent) is below this (default 0.9); survivors "
                        "not documented at all fail too")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directories")
    parser.add_argument("--retest-survivors", action="store_true",
                        help="run only the survivors of each target's last report, against "
                        "the tests as they are now; its killed mutants count as killed")
    parser.add_argument("--report-only", action="store_true",
                        help="mutate nothing: summarise the reports already in build/mutation")
    args = parser.parse_args(argv)
    names = args.targets or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown targets: {', '.join(unknown)}")
    if args.report_only:
        reports = [
            json.loads((REPORTS / f"{n}.json").read_text("utf-8"))
            for n in names
            if (REPORTS / f"{n}.json").is_file()
        ]
        for report in reports:
            _judge(report)
            (REPORTS / f"{report['target']}.json").write_text(
                json.dumps(report, indent=2) + "\n", "utf-8"
            )
    else:
        reports = [
            run_target(n, TARGETS[n], args.sample, args.keep, args.retest_survivors)
            for n in names
        ]
    summary = _summary(reports)
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "summary.md").write_text(summary, "utf-8")
    sys.stdout.write(summary)
    low = [str(r["target"]) for r in reports if float(str(r["score"])) < args.floor]
    if low:
        sys.stderr.write(f"error: mutation score below {args.floor:.0%} in: {', '.join(low)}\n")
    unexplained = [str(r["target"]) for r in reports if int(r["undocumented"])]
    if unexplained:
        sys.stderr.write(
            "error: survivors neither killed nor documented in docs/testing.md in: "
            f"{', '.join(unexplained)}\n"
        )
    if low or unexplained:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
