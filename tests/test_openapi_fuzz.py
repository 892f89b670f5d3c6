"""schemathesis against our own OpenAPI: no 500s, no response that breaks the schema.

It covers every route in /api/v1/openapi.json, so each network's API is guarded as it grows.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.schemas import BaseOpenAPISchema

from tests.conftest import Province
from yiwang.app import create_app
from yiwang.runtime import Platform


@pytest.fixture
def api_schema(platform: Platform, province: Province) -> BaseOpenAPISchema:
    app = create_app(platform)
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    schema.config.headers = {"Authorization": f"Bearer {province.token('admin')}"}  # type: ignore[attr-defined]
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_fails_on_generated_input(case: schemathesis.Case) -> None:
    case.call_and_validate()
