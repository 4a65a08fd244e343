"""schemathesis against /api/v1/openapi.json over real HTTPS: no 5xx, and every answer
matches the schema (status codes declared, bodies of the declared shape). Bounded for
a 2-core machine: a few examples per operation, no shrinking phase."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.web.conftest import Running

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def _fuzz(web: Running, user: str, wanted: Callable[[Any], bool]) -> int:
    """Fuzz each operation of the document that ``wanted`` accepts with ``user``'s token,
    every answer checked against the schema; how many operations were fuzzed."""
    schema = schemathesis.openapi.from_url(f"{web.url}/api/v1/openapi.json",
                                           verify=str(web.cafile))
    headers = {"authorization": f"Bearer {web.tokens[user]}"}
    fuzzed = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if not wanted(operation):
            continue
        fuzzed += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck), database=None)
        def run(case: Any) -> None:
            case.call_and_validate(base_url=web.url, headers=headers,
                                   verify=str(web.cafile), checks=CHECKS)

        run()
    return fuzzed


def test_api_answers_within_its_schema(web: Running) -> None:
    # an operator's token: every route is reachable but the admin-only ones (403, declared)
    assert _fuzz(web, "fullop", lambda operation: True) >= 20


def _list_routes(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The GET routes of the API that answer a list (``items``), with their parameters (a
    collection's path has no parameter: ``/jobs/{job_id}``'s items are one job's)."""
    out = {}
    for path, item in document["paths"].items():
        get = item.get("get")
        if get is None or "{" in path:
            continue
        answer = get["responses"]["200"].get("content", {}).get("application/json", {})
        ref = answer.get("schema", {}).get("$ref", "")
        schema = document["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
        if "items" in schema.get("properties", {}):
            out[path] = get.get("parameters", [])
    return out


def test_every_list_is_paged_within_bounds(web: Running) -> None:
    """Each list route of the document takes ``offset`` (from 0) and ``limit`` (1 to
    500) and answers ``{items, total, offset, limit}`` (the audit log: ``next_offset``
    instead of ``total``)."""
    with web.client() as client:
        document = client.get("/api/v1/openapi.json").json()
    lists = _list_routes(document)
    assert {"/api/v1/definitions", "/api/v1/hosts", "/api/v1/deployments", "/api/v1/users",
            "/api/v1/tokens", "/api/v1/requests", "/api/v1/issuers",
            "/api/v1/certificates", "/api/v1/endpoints", "/api/v1/audit"} <= set(lists)
    for path, parameters in lists.items():
        bounds = {p["name"]: p["schema"] for p in parameters if p["in"] == "query"}
        assert bounds["offset"].get("minimum") == 0, path
        assert (bounds["limit"].get("minimum"), bounds["limit"].get("maximum")) == (1, 500), \
            path
        answer = document["paths"][path]["get"]["responses"]["200"]["content"][
            "application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        fields = set(document["components"]["schemas"][answer]["required"])
        assert {"items", "offset", "limit"} <= fields, path
        assert ("next_offset" if path.endswith("/audit") else "total") in fields, path


def test_the_admin_lists_answer_within_their_schema(web: Running) -> None:
    """The lists an operator is refused (users, tokens, issuers), fuzzed with an admin's
    token: their pages are generated too."""
    admin_lists = ("/users", "/tokens", "/issuers", "/api/v1/users", "/api/v1/tokens",
                   "/api/v1/issuers")
    assert _fuzz(web, "admin", lambda operation: operation.method.upper() == "GET"
                 and operation.path in admin_lists) == 3
