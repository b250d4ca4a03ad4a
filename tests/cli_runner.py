"""The in-process `heritage` runner every test uses to start the CLI.

``run_heritage(args, env=...)`` calls ``api.cli.main(argv)`` in this process and returns a
:class:`subprocess.CompletedProcess` as ``subprocess.run(..., capture_output=True)`` would:
the exit status (``SystemExit`` caught), stdout and stderr. Each invocation is isolated the
way a new process is:

- the environment: every ``HERITAGE_*`` variable of the test process is removed and the
  invocation's own are set, then the environment is restored (settings are read from
  ``os.environ`` when a command runs, never at import);
- standard streams: fresh stdin (the ``input`` given, else empty), stdout and stderr with a
  binary ``.buffer`` each, none a terminal; rich consoles look ``sys.stdout``/``sys.stderr`` up
  on every write, so they write into these;
- the working directory, when ``cwd`` is given;
- the controlling terminal: there is none, as for a process started without one, so hidden
  prompts (``getpass``) read the line from stdin instead of opening ``/dev/tty``;
- ``sys.excepthook`` (typer installs its own on every call) and the root logger's handlers.

An exception that escapes ``main`` is what a crash of the process was: its traceback is written
to stderr with "Traceback (most recent call last)" and the status is 1, so the tests' "no
``Traceback`` on stderr" assertions catch it as before.

Caches that outlive one invocation are pure memos keyed by everything they read (CID texts,
checksums, ABI tables, checked keyholder histories keyed by their events), so a later
invocation cannot see stale state through them.

What a real process is needed for stays a subprocess: the exit status the shell sees
(tests/api/test_exit_codes.py, one per status), the start-up import checks and ``ipfs serve``
in tests/api/test_cli.py, the progress bar on a terminal in tests/api/test_cli_registry.py,
and ``chain up``/``down`` in tests/local_chain/test_anvil.py.
"""

from __future__ import annotations

import getpass
import io
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, TextIO, overload

__all__ = ["HERITAGE_PREFIX", "isolated_environment", "run_entry_point", "run_heritage"]

HERITAGE_PREFIX = "HERITAGE_"


@contextmanager
def isolated_environment(env: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` without the test process's ``HERITAGE_*`` variables, plus ``env``;
    restored afterwards."""
    saved = dict(os.environ)
    try:
        for name in [k for k in os.environ if k.startswith(HERITAGE_PREFIX)]:
            del os.environ[name]
        os.environ.update(env)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _stream(data: bytes = b"") -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="strict", newline=None,
                            write_through=True)  # fmt: skip


def _getpass_without_terminal(prompt: str = "Password: ", stream: TextIO | None = None) -> str:
    """``getpass.getpass`` in a process with no controlling terminal (its fallback: a warning
    and the prompt on stderr, the line from stdin, no echo control)."""
    out = stream or sys.stderr
    print("Warning: Password input may be echoed.", file=out)
    out.write(prompt)
    out.flush()
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line.removesuffix("\n")


@overload
def run_heritage(
    args: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = ...,
    cwd: Path | None = ...,
    input: str | None = ...,
    text: Literal[True] = ...,
) -> subprocess.CompletedProcess[str]: ...


@overload
def run_heritage(
    args: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = ...,
    cwd: Path | None = ...,
    input: str | None = ...,
    text: Literal[False],
) -> subprocess.CompletedProcess[bytes]: ...


def run_heritage(
    args: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    input: str | None = None,
    text: bool = True,
) -> subprocess.CompletedProcess[str] | subprocess.CompletedProcess[bytes]:
    """``heritage ARGS`` in this process, with ``env`` as its ``HERITAGE_*`` variables."""
    # Imported here: the CLI package is imported once, on the first invocation.
    from api.cli import main

    out, err, status = run_entry_point(main, args, env=env, cwd=cwd, input=input)
    argv = ["heritage", *map(str, args)]
    if text:
        return subprocess.CompletedProcess(
            argv, status, out.decode("utf-8", errors="replace"), err
        )
    return subprocess.CompletedProcess(argv, status, out, err.encode())


def run_entry_point(
    main: Callable[[list[str]], object],
    args: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    input: str | None = None,
) -> tuple[bytes, str, int]:
    """``main(argv)`` isolated as described above: (stdout bytes, stderr text, exit status)."""
    argv = [str(a) for a in args]
    stdin = _stream((input or "").encode())
    stdout, stderr = _stream(), _stream()
    streams = (sys.stdin, sys.stdout, sys.stderr)
    hook, ask = sys.excepthook, getpass.getpass
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    here = Path.cwd()
    status = 0
    with isolated_environment(env or {}):
        sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
        getpass.getpass = _getpass_without_terminal
        try:
            if cwd is not None:
                os.chdir(cwd)
            # What the console script does: sys.exit(main()).
            raise SystemExit(main(argv))
        except SystemExit as exc:
            if exc.code is None:
                status = 0
            elif isinstance(exc.code, int):
                status = exc.code
            else:  # as the interpreter does: the message on stderr, status 1
                stderr.write(f"{exc.code}\n")
                status = 1
        except Exception:  # a crash of the process it stands for
            stderr.write(traceback.format_exc())
            status = 1
        finally:
            stdout.flush()
            stderr.flush()
            sys.stdin, sys.stdout, sys.stderr = streams
            sys.excepthook, getpass.getpass = hook, ask
            root.handlers[:] = handlers
            root.setLevel(level)
            os.chdir(here)
    out: bytes = stdout.buffer.getvalue()  # type: ignore[attr-defined]
    err: bytes = stderr.buffer.getvalue()  # type: ignore[attr-defined]
    return out, err.decode("utf-8", errors="replace"), status
