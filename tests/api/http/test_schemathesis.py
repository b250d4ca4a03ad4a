"""Schemathesis against the OpenAPI document of the API served for real, on a registered
collection (real anvil, the embedded node): no 500s, every answer conforms to the document
(status and schema), no unauthenticated request to a signed operation succeeds, and invalid
input is never accepted. ``make test`` runs a few examples per operation; ``make test-deep``
(HYPOTHESIS_PROFILE=deep) a thousand.

The stateful run follows the document's links from one answer to the next call (a list, then
one of its entries by the id it gave, ...): where the document has no links on an answer,
:data:`LINKS` adds them to the copy under test."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings, stateful
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
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


#: Links between operations, for answers the document gives none: (source operation, link
#: name, target operation, its parameters as runtime expressions over the source's answer).
LINKS: list[tuple[str, str, str, dict[str, str]]] = [
    ("GET /communities", "Community", "GET /communities/{ref}",
     {"path.ref": "$response.body#/communities/0/id"}),
    ("GET /communities", "CommunityByName", "GET /communities/{ref}",
     {"path.ref": "$response.body#/communities/0/name"}),
    ("GET /communities", "CommunityItems", "GET /communities/{ref}/items",
     {"path.ref": "$response.body#/communities/0/id"}),
    ("GET /communities", "ItemsOfCommunity", "GET /items",
     {"query.community": "$response.body#/communities/0/id"}),
    ("GET /items", "Item", "GET /items/{item}", {"path.item": "$response.body#/items/0/id"}),
    ("GET /items", "Terms", "GET /items/{item}/terms",
     {"path.item": "$response.body#/items/0/id"}),
    ("GET /items", "Descriptions", "GET /items/{item}/descriptions",
     {"path.item": "$response.body#/items/0/id"}),
    ("GET /items/{item}", "Verify", "GET /verify/{cid}", {"path.cid": "$response.body#/cid"}),
    ("GET /items/{item}", "Steward", "GET /communities/{ref}",
     {"path.ref": "$response.body#/community"}),
    ("GET /events", "NextPage", "GET /events", {"query.after": "$response.body#/next"}),
    ("GET /exhibits", "Exhibit", "GET /exhibits/{name}.zip",
     {"path.name": "$response.body#/exhibits/0/name"}),
]  # fmt: skip


def linked(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with :data:`LINKS` on each 200 answer that has no links of its own."""
    document = copy.deepcopy(document)
    ids = {
        f"{method.upper()} {path}": op["operationId"]
        for path, item in document["paths"].items()
        for method, op in item.items()
    }

    def answer(source: str) -> dict[str, Any]:
        method, path = source.split(" ", 1)
        found: dict[str, Any] = document["paths"][path][method.lower()]["responses"]["200"]
        return found

    own = {source for source, _, _, _ in LINKS if "links" in answer(source)}
    for source, name, target, parameters in LINKS:
        if source in own:
            continue  # the document links this answer itself
        answer(source).setdefault("links", {})[name] = {
            "operationId": ids[target],
            "parameters": parameters,
        }
    return document


def test_every_link_is_a_transition_of_the_stateful_run() -> None:
    """Each of :data:`LINKS` joins two operations of the document, and Schemathesis's state
    machine over the linked document has it as a transition (a renamed path, a misspelt
    parameter or a link lost on the way fails here)."""
    from pathlib import Path

    from api.app import create_app
    from ledger.settings import load_settings

    document = create_app(load_settings(env={}, data_dir=Path("/nonexistent"))).openapi()
    machine = schemathesis.openapi.from_dict(linked(document)).as_state_machine()
    transitions = getattr(machine, "_transitions").operations  # noqa: B009 - not typed
    for source, name, target, _ in LINKS:
        incoming = transitions[target].incoming if target in transitions else []
        assert f"{source} -> [200] {name} -> {target}" in {link.full_name for link in incoming}


def test_sequences_of_calls_keep_the_document(world: World, api_url: str) -> None:
    """Schemathesis's stateful mode over the linked document: sequences of calls, each
    answer checked as above (and a resource one answer names is not gone in the next)."""
    document = httpx.get(f"{api_url}/openapi.json", timeout=120).json()
    schema = schemathesis.openapi.from_dict(linked(document))
    steps: list[tuple[str, int]] = []
    linked_steps: list[tuple[str, int]] = []  # (link, status) of steps a link gave values to
    checks = [c for c in CHECKS if c is not negative_data_rejection] + [use_after_free]

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": api_url}

        def step(self, input: Any) -> Any:
            output = super().step(input)
            if input.transition is not None and input.is_applied:
                linked_steps.append((input.transition.id, output.response.status_code))
            return output

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            steps.append((f"{case.method} {case.path}", response.status_code))
            case.validate_response(response, checks=checks, transport_kwargs=kwargs)

    stateful.run_state_machine_as_test(
        Workflow,
        settings=settings(
            max_examples=200 if deep() else 15,
            stateful_step_count=12 if deep() else 5,
            derandomize=not deep(),  # the same sequences in every `make test`
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
    # some calls took their values from an earlier answer by a link, and were answered
    assert {status for _, status in linked_steps} & {200}, (linked_steps, steps)
