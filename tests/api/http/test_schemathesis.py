"""Schemathesis against the OpenAPI document of the API served for real, on a registered
collection (real anvil, the embedded node): no 500s, every answer conforms to the document
(status and schema), no unauthenticated request to a signed operation succeeds, and invalid
input is never accepted. ``make test`` runs a few examples per operation; ``make test-deep``
(HYPOTHESIS_PROFILE=deep) a thousand."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from ledger.settings import Settings
from tests.api.http.support import served_api
from tests.exhibits.build_support import World, make_world
from tests.hypothesis_profiles import deep
from tests.reaching import reached, reaches
from tests.registry_support import chain_settings, module_chain

REUSED_FIXTURES = (chain_settings, module_chain)
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    ignored_auth,
    negative_data_rejection,
]


@schemathesis.serializer("application/toml")
def _toml(_ctx: Any, value: Any) -> Any:
    """An exhibit spec as sent: text, UTF-8 (anything else is sent as its JSON form, which a
    TOML reader refuses: negative data)."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text.encode() if isinstance(text, str) else text


#: Operations whose body is a file of any bytes.
ANY_BYTES = {("POST", "/verify")}


@pytest.fixture(scope="module")
def world(module_chain: Settings, tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(module_chain, tmp_path_factory.mktemp("api-fuzz"))


@pytest.fixture(scope="module")
def api_url(world: World) -> Iterator[str]:
    with served_api(world.settings) as url:
        yield url


def _operations() -> list[tuple[str, str, GenerationMode]]:
    """(method, path, mode) of every operation, from the app's own document (no server
    needed): positive data for each, negative data for each that takes any input."""
    from pathlib import Path

    from api.app import create_app
    from ledger.settings import load_settings

    document = create_app(load_settings(env={}, data_dir=Path("/nonexistent"))).openapi()
    return [
        (method.upper(), path, mode)
        for path, item in document["paths"].items()
        for method, op in item.items()
        for mode in GenerationMode
        if mode is GenerationMode.POSITIVE or op.get("parameters") or op.get("requestBody")
    ]


@pytest.fixture(scope="module")
def api_schema(api_url: str) -> Any:
    return schemathesis.openapi.from_url(f"{api_url}/openapi.json")


@pytest.mark.parametrize(("method", "path", "mode"), _operations())
def test_the_api_keeps_its_openapi_document(
    api_schema: Any, api_url: str, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]
    calls = []
    checks = CHECKS
    if (method, path) in ANY_BYTES:
        # Any bytes are a file to verify: "negative" file data (a null, sent as the 4 bytes
        # `null`) is a valid upload, so there is no invalid body to reject; the other checks
        # (no 500, conformance, auth) still run on those cases.
        checks = [c for c in CHECKS if c is not negative_data_rejection]

    # Every example is sent and validated: none may stop before the checks.
    @reaches(1.0)
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=1000 if deep() else 12,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case: Any) -> None:
        response = case.call_and_validate(base_url=api_url, checks=checks)
        calls.append(response.status_code)
        reached()

    check()
    assert calls  # the operation was called
