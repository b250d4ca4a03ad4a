"""Kubo's query parameters: ``arg`` repeated, booleans and integers as Go parses them."""

from __future__ import annotations

import re
from typing import Final

from starlette.requests import Request

from ledger.errors import UsageError

__all__ = ["KuboParams"]

_TRUE: Final = frozenset({"1", "t", "T", "TRUE", "true", "True"})  # Go's strconv.ParseBool
_FALSE: Final = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_INTEGER: Final = re.compile(r"-?[0-9]{1,18}")


class KuboParams:
    """Kubo-style query options: ``arg`` repeated, booleans and integers as Go parses them."""

    def __init__(self, request: Request) -> None:
        self._query = request.query_params

    def args(self) -> list[str]:
        return self._query.getlist("arg")

    def one_arg(self, what: str) -> str:
        args = self.args()
        if not args:
            raise UsageError(f"argument {what!r} is required", hint="pass it as ?arg=<value>")
        if len(args) > 1:
            raise UsageError(f"expected one {what}, got {len(args)}")
        return args[0]

    def some_args(self, what: str) -> list[str]:
        args = self.args()
        if not args:
            raise UsageError(f"argument {what!r} is required", hint="pass it as ?arg=<value>")
        return args

    def text(self, name: str) -> str | None:
        return self._query.get(name)

    def flag(self, name: str, default: bool) -> bool:
        value = self._query.get(name)
        if value is None:
            return default
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise UsageError(f"option {name!r} must be true or false, not {value[:40]!r}")

    def integer(self, name: str, default: int | None, *, minimum: int = 0) -> int | None:
        value = self._query.get(name)
        if value is None:
            return default
        if not _INTEGER.fullmatch(value):
            raise UsageError(f"option {name!r} must be an integer, not {value[:40]!r}")
        number = int(value)
        if number < minimum:
            raise UsageError(f"option {name!r} must be at least {minimum}, not {number}")
        return number
