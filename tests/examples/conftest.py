"""The example package's tests register protocol classes: each test's are gone after it."""

import pytest


@pytest.fixture(autouse=True)
def _forget_protocol_classes(protocol_classes):
    yield
