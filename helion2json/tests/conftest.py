"""Fixtures of the exporter's tests."""

from __future__ import annotations

import pytest

from helion2json.tests.family_documents import Documents


@pytest.fixture(scope="module")
def docs() -> Documents:
    """Each family's document, exported once per test module (binding is the slow part)."""
    return Documents()
