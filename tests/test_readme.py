"""The README's command blocks, run for real, in order, as a newcomer pastes them.

The convention the README follows (and this test enforces):

- Every ```` ```sh ```` block runs, unless the line right before its opening fence is
  ``<!-- readme-test: skip (why) -->`` (a reason is required): `make demo` and servers that run
  until Ctrl-C, the virtualenv's activation. :data:`RUN` and :data:`SKIPPED` are the counts;
  an edit of the README that adds, drops or skips a block fails here until they are updated.
- A ```` ```text ```` block that directly follows a run ``sh`` block (blank lines only between
  them) is that block's output as the README shows it: each of its lines must be found, in
  order, among the lines the block printed (stdout and stderr together), where ``…`` stands for
  anything (addresses, CIDs, times). Other fenced blocks are not run.
- Blocks run one after another in one working folder, each in its own ``bash`` with ``set -e
  -o pipefail`` (so every command's exit status counts: a command the README expects to fail
  is written ``cmd || echo "exit $?"`` and shows its status), carrying over to the next block
  what a terminal would: variables, functions and the current folder.

What differs from a person's terminal, each because of the machine the test runs on: ``HOME``
is a temporary folder (the walk-through works under ``~``); the virtualenv's ``bin`` comes first
on ``PATH`` (the README's skipped activation); ``HERITAGE_RPC_URL`` names a free port, so that
``heritage chain up`` starts its own anvil there rather than on 8545; ``HERITAGE_FSYNC=0``
(temporary files); and ``heritage keys new`` gets the hidden ``--unsafe-light-kdf`` (scrypt
n = 2**10, as the test suite's keys: the default costs about a second and 256 MiB per key use).
Everything else is real: anvil, the registry contract, the embedded IPFS node, the keystores,
the exhibit build.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.chain_support import free_port

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: How many ``sh`` blocks the README has that run, and that are skipped (with their reason).
RUN = 12
SKIPPED = 5
#: How many run blocks show their output (a ``text`` block right after them).
WITH_OUTPUT = 11
SKIP = re.compile(r"<!-- readme-test: skip \((?P<why>[^)]+)\) -->")
#: The hidden light key derivation, added where the README makes keys (see the docstring).
LIGHT_KDF = ("heritage keys new ", "heritage keys new --unsafe-light-kdf ")


@dataclass(frozen=True)
class Block:
    """A fenced block of the README: its language, text, and the line its fence opens on."""

    lang: str
    text: str
    line: int
    skip: str | None = None  # the reason, when marked as not run
    output: tuple[str, ...] = ()  # the lines of the ``text`` block that follows it


def parse(markdown: str) -> list[Block]:
    """The ``sh`` blocks of ``markdown``, each with its skip reason and shown output."""
    lines = markdown.splitlines()
    fences: list[Block] = []
    i = 0
    while i < len(lines):
        opening = re.fullmatch(r"```(\S*)\s*", lines[i])
        if opening is None:
            i += 1
            continue
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].rstrip() != "```":
            body.append(lines[i])
            i += 1
        assert i < len(lines), f"README line {start + 1}: a fence that never closes"
        marker = SKIP.fullmatch(lines[start - 1].strip()) if start else None
        if start and "readme-test" in lines[start - 1] and marker is None:
            raise AssertionError(f"README line {start}: a readme-test marker needs a reason")
        fences.append(Block(opening.group(1), "\n".join(body) + "\n", start + 1,
                            marker.group("why") if marker else None))  # fmt: skip
        i += 1
    blocks: list[Block] = []
    for n, fence in enumerate(fences):
        if fence.lang != "sh":
            continue
        after = fences[n + 1] if n + 1 < len(fences) else None
        output: tuple[str, ...] = ()
        if after is not None and after.lang == "text" and fence.skip is None:
            closing = fence.line + fence.text.count("\n")  # the 0-based index of the closing fence
            between = lines[closing + 1 : after.line - 1]
            if all(not line.strip() for line in between):
                output = tuple(line for line in after.text.splitlines() if line.strip())
        blocks.append(Block(fence.lang, fence.text, fence.line, fence.skip, output))
    return blocks


def _squeeze(line: str) -> str:
    return " ".join(line.split())


def _pattern(expected: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in _squeeze(expected).split("…")))


def find_in_order(expected: tuple[str, ...], printed: str) -> str | None:
    """None when every expected line matches a whole printed line, in order; else the first
    that does not. Runs of spaces count as one (table columns vary in width)."""
    lines = [_squeeze(line) for line in printed.splitlines()]
    at = 0
    for wanted in expected:
        pattern = _pattern(wanted)
        while at < len(lines) and not pattern.fullmatch(lines[at]):
            at += 1
        if at == len(lines):
            return wanted
        at += 1
    return None


def test_the_parser_reads_skips_and_outputs() -> None:
    sample = (
        "text\n\n<!-- readme-test: skip (serves) -->\n```sh\nserve\n```\n\n```text\nx\n```\n"
        "```sh\necho a\n```\n\n```text\na…\n```\n```sh\necho b\n```\nprose\n```text\nb\n```\n"
    )
    blocks = parse(sample)
    assert [(b.text, b.skip, b.output) for b in blocks] == [
        ("serve\n", "serves", ()),
        ("echo a\n", None, ("a…",)),
        ("echo b\n", None, ()),  # prose between: not its output
    ]
    with pytest.raises(AssertionError, match="needs a reason"):
        parse("<!-- readme-test: skip -->\n```sh\nx\n```\n")
    assert find_in_order(("a…", "c"), "a1\nb\nc\n") is None
    assert find_in_order(("c", "a…"), "a1\nb\nc\n") == "a…"
    assert find_in_order(("exit 3",), "exit 35\n") == "exit 3"  # whole lines only
    assert find_in_order(("│ shown │ 1 │",), "  │ shown     │    1 │\n") is None


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERITAGE_")}
    home = tmp / "home"
    home.mkdir()
    venv_bin = str(Path(sys.executable).parent)
    return env | {
        "HOME": str(home),
        "PATH": venv_bin + os.pathsep + env.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "HERITAGE_RPC_URL": f"http://127.0.0.1:{free_port()}",
        "HERITAGE_FSYNC": "0",
        "COLUMNS": "120",
    }


def _script(block: Block, state: Path) -> str:
    text = block.text.replace(*LIGHT_KDF)
    return (
        f"set -a\n[ -f {state} ] && . {state}\nset -eo pipefail\n"
        f"{text}\n"
        f"{{ export -p; declare -f; printf 'cd %q\\n' \"$PWD\"; }} > {state}\n"
    )


def test_the_readme_runs(tmp_path: Path) -> None:
    blocks = parse(README.read_text(encoding="utf-8"))
    run = [b for b in blocks if b.skip is None]
    assert (len(run), len(blocks) - len(run)) == (RUN, SKIPPED), [(b.line, b.skip) for b in blocks]
    assert sum(bool(b.output) for b in run) == WITH_OUTPUT
    assert sum(b.text.count(LIGHT_KDF[0]) for b in run) == 3, "the keys the README makes"
    env = _env(tmp_path)
    state = tmp_path / "state.sh"
    work = tmp_path / "start"
    work.mkdir()
    data = Path(env["HOME"]) / "heritage-walkthrough" / "data"
    ran = 0
    try:
        for block in run:
            proc = subprocess.run(
                ["bash", "-c", _script(block, state)], cwd=work, env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True, check=False,
            )  # fmt: skip
            where = f"README line {block.line}:\n{block.text}\n--- printed:\n{proc.stdout}"
            assert proc.returncode == 0, f"exit {proc.returncode}, {where}"
            assert "Traceback" not in proc.stdout, where
            missing = find_in_order(block.output, proc.stdout)
            assert missing is None, f"not printed: {missing!r}; {where}"
            ran += 1
    finally:
        if (data / "chain").is_dir():  # whatever happened, no anvil is left running
            subprocess.run(
                ["heritage", "chain", "down"], env=env | {"HERITAGE_DATA_DIR": str(data)},
                stdin=subprocess.DEVNULL, capture_output=True, check=False,
            )  # fmt: skip
    assert ran == RUN
    # It all happened in the walk-through's own data directory, and the chain was stopped.
    assert len(list((data / "keys").glob("0x*.json"))) == 3
    assert not (data / "chain" / "anvil.pid").exists()


def _anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a page's headings (lower case, punctuation dropped, spaces
    to hyphens)."""
    found = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def test_every_link_of_the_readme_and_docs_resolves() -> None:
    pages = [README, *sorted((ROOT / "docs").glob("*.md"))]
    checked = 0
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if target.startswith(("http://", "https://", "mailto:", "#")):
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve()
            assert resolved.exists(), f"{page.name}: {target}"
            if anchor:
                assert anchor in _anchors(resolved.read_text(encoding="utf-8")), (page.name, target)
            checked += 1
    assert checked > 40
