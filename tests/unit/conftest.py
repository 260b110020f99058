from datetime import date
from typing import Any

import pytest

from deploy.local.firm import SAMPLE_FAMILIES, assignment_request
from shared.contracts import AssignmentRequested

TODAY = date(2026, 11, 22)


@pytest.fixture
def request_json() -> dict[str, Any]:
    """A German-speaking partner moving to Stavanger, as a firm writes the request."""
    return assignment_request(SAMPLE_FAMILIES[0], today=TODAY)


@pytest.fixture
def request_event(request_json: dict[str, Any]) -> AssignmentRequested:
    return AssignmentRequested.model_validate(request_json)
