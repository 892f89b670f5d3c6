"""schemathesis against our own OpenAPI: no 500s, no response that breaks the schema.

It walks every operation in /api/v1/openapi.json, so each network's API is guarded as it
grows. (Driven through hypothesis directly: schemathesis' pytest plugin does not combine
with our parametrised database fixtures.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import Province
from yiwang.app import create_app
from yiwang.runtime import Platform

EXAMPLES_PER_OPERATION = 25


def operations(platform: Platform) -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(platform))
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.slow
def test_api_never_fails_on_generated_input(platform: Platform, province: Province) -> None:
    headers = {"Authorization": f"Bearer {province.token('admin')}"}
    ops = operations(platform)
    assert len(ops) >= 10  # the backbone's own operations at least
    for operation in ops:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            # No shrinking: a failing case is reported as found (shrinking HTTP cases takes minutes).
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case) -> None:
            # Schema-valid input may still break a business rule (an unknown org is a 404, a
            # duplicate a 409): correct answers, so "valid data must be accepted" is not checked.
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        call()
