"""ledger.strict_json: hostile JSON is refused with a reason, never a crash."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.strict_json import MAX_DEPTH, loads, nesting_exceeds
from tests.reaching import reached, reaches

# RFC 8259, section 13: the specification's own example texts and what they denote.
RFC_8259_OBJECT = """
      {
        "Image": {
            "Width":  800,
            "Height": 600,
            "Title":  "View from 15th Floor",
            "Thumbnail": {
                "Url":    "http://www.example.com/image/481989943",
                "Height": 125,
                "Width":  100
            },
            "Animated" : false,
            "IDs": [116, 943, 234, 38793]
          }
      }
"""
RFC_8259_SCALARS = ['"Hello world!"', "42", "true"]


def test_the_rfc_8259_examples_parse() -> None:
    image = loads(RFC_8259_OBJECT)["Image"]
    assert image["Thumbnail"]["Url"] == "http://www.example.com/image/481989943"
    assert image["IDs"] == [116, 943, 234, 38793] and image["Animated"] is False
    assert [loads(text) for text in RFC_8259_SCALARS] == ["Hello world!", 42, True]


def test_deep_nesting_is_refused_before_the_decoder_runs() -> None:
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    with pytest.raises(ValueError, match=f"more than {MAX_DEPTH} levels"):
        loads("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    with pytest.raises(ValueError, match="more than 3 levels"):
        loads('{"a": {"b": {"c": {"d": 1}}}}', max_depth=3)
    # Unbalanced: the depth is what the text reaches, closed or not.
    assert nesting_exceeds("[" * 100_000, 64)


def test_a_bracket_bomb_under_a_raised_recursion_limit_does_not_kill_the_process() -> None:
    """Plain json.loads of this text with the limit raised overflows the C stack (the
    process dies with SIGSEGV); a child process shows that loads() refuses it instead."""
    program = (
        "import sys; sys.setrecursionlimit(10**7)\n"
        "from ledger.strict_json import loads\n"
        "try:\n"
        "    loads('[' * 2_000_000)\n"
        "except ValueError as exc:\n"
        "    print('refused:', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused: it nests arrays and objects more than 64")


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps(["[" * 1000, "{" * 1000, '\\"[[[', "]" * 5])
    assert loads(text) == ["[" * 1000, "{" * 1000, '\\"[[[', "]" * 5]
    assert not nesting_exceeds(text, 1)
    # An escaped quote does not end a string.
    assert loads(r'["a\"[[[[", 1]', max_depth=1) == ['a"[[[[', 1]


@pytest.mark.parametrize(
    "text", ['{"a": 1, "a": 2}', '[{"x": {"k": 1, "k": 1}}]', '{"": 0, "": 0}']
)
def test_a_key_twice_in_one_object_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="appears twice"):
        loads(text)


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"x": -Infinity}'])
def test_non_json_constants_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not JSON"):
        loads(text)


def test_bytes_must_be_utf8() -> None:
    with pytest.raises(ValueError):
        loads(b'"\xff"')
    assert loads('"caf\u00e9"'.encode()) == "café"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@reaches(0.8)
@given(json_values)
def test_any_json_this_program_could_write_reads_back(value: Any) -> None:
    assert loads(json.dumps(value)) == value
    reached()
