"""schemathesis against /api/v1/openapi.json over real HTTPS: no 5xx, and every answer
matches the schema (status codes declared, bodies of the declared shape). Bounded for
a 2-core machine: a few examples per operation, no shrinking phase."""

from __future__ import annotations

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


def test_api_answers_within_its_schema(web: Running) -> None:
    schema = schemathesis.openapi.from_url(f"{web.url}/api/v1/openapi.json",
                                           verify=str(web.cafile))
    # an operator's token: every route is reachable but the admin-only ones (403, declared)
    headers = {"authorization": f"Bearer {web.tokens['fullop']}"}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck), database=None)
        def run(case: Any) -> None:
            case.call_and_validate(base_url=web.url, headers=headers,
                                   verify=str(web.cafile), checks=CHECKS)

        run()
    assert operations >= 20
