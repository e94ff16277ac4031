"""Suite-wide checks shared by every test package."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helion2json.core.triton_cpu import enable_interpreter_if_no_gpu

# Before any test module imports helion (and with it triton): on machines without a
# GPU, verify's compiled-kernel reference runs in Triton's interpreter.
enable_interpreter_if_no_gpu()

SCHEMA_FILE = Path(__file__).parent / "helion2json" / "schema" / "helion2json.schema.json"


def jsonschema_validate(document: Any) -> None:
    """Validate with the checked-in JSON Schema file, as a C++ or editor consumer would."""
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator(schema).validate(document)


@pytest.fixture(autouse=True, scope="session")
def _every_export_passes_jsonschema() -> Iterator[None]:
    """Every document the exporter produces in the suite is also checked by jsonschema."""
    try:
        from helion2json.core import export
    except ImportError:  # the light install has no exporter
        yield
        return
    original = export.export_bound

    def checked(*args: Any, **kwargs: Any) -> dict[str, Any]:
        payload = original(*args, **kwargs)
        jsonschema_validate(json.loads(json.dumps(payload)))
        return payload

    export.export_bound = checked  # type: ignore[assignment]
    try:
        yield
    finally:
        export.export_bound = original  # type: ignore[assignment]
