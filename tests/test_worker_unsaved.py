"""An export request carries the editor's unsaved texts of other files: the worker imports
a sibling module from that text, and records its hash as the dependency."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from helion2json.worker.exporter import ModuleExporter
from helion2json.worker.protocol import ExportRequest, text_sha256

KERNELS = (Path(__file__).parent / "lsp" / "workspace" / "kernels.py").read_text()
HELPERS = "def scale(x):\n    return x * 2\n"
RENAMED = "def scaled(x):\n    return x * 2\n"
ARGS = "torch.randn(8, 8), torch.randn(8, 8)"


def test_unsaved_texts_cross_the_wire() -> None:
    request = ExportRequest("/p/k.py", "text", "add", ARGS, unsaved=(("/p/helpers.py", "A = 1"),))
    wire = json.loads(json.dumps(request.to_wire()))
    assert wire["unsaved"] == [["/p/helpers.py", "A = 1"]]
    assert ExportRequest.from_wire(wire) == request
    # A client that sends none (the headless export) gets none.
    del wire["unsaved"]
    assert ExportRequest.from_wire(wire).unsaved == ()


@pytest.mark.parametrize(
    "unsaved", [{"/p/h.py": "A = 1"}, [["/p/h.py"]], [["/p/h.py", 1]], "text", [None]]
)
def test_malformed_unsaved_texts_are_refused(unsaved: object) -> None:
    wire = {**ExportRequest("/p/k.py", "text", "add", ARGS).to_wire(), "unsaved": unsaved}
    with pytest.raises(ValueError, match="unsaved"):
        ExportRequest.from_wire(wire)


@pytest.fixture(scope="module")
def exporter() -> Iterator[ModuleExporter]:
    yield ModuleExporter()  # imports torch and helion


def test_a_sibling_is_imported_from_its_unsaved_text(
    exporter: ModuleExporter, tmp_path: Path
) -> None:
    helpers = tmp_path / "unsaved_helpers.py"
    helpers.write_text(HELPERS)
    path = tmp_path / "kernels.py"
    text = KERNELS.replace("import torch\n", "import torch\nfrom unsaved_helpers import scale\n")
    line = text.split("\n").index("from unsaved_helpers import scale") + 1
    saved = ExportRequest(str(path), text, "add", ARGS)

    result = exporter.export(saved)
    assert result.ok, result.diagnostics
    [dependency] = result.dependencies
    assert dependency.file == str(helpers) and dependency.sha256 == text_sha256(HELPERS)

    edited = exporter.export(dataclasses.replace(saved, unsaved=((str(helpers), RENAMED),)))
    assert not edited.ok
    [error] = edited.diagnostics
    assert (error.code, error.line) == ("module-error", line)
    assert "scale" in error.message
    [dependency] = edited.dependencies
    assert dependency.sha256 == text_sha256(RENAMED)
    # Nothing of it stays behind: the next request reads the saved file again.
    assert "unsaved_helpers" not in sys.modules
    assert not [finder for finder in sys.meta_path if type(finder).__name__ == "_UnsavedFiles"]
    assert exporter.export(saved).ok
