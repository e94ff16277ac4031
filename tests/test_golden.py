"""Structural differences between a golden document and a fresh export."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from h2j_lsp.discovery import scan_source
from h2j_lsp.features.golden_check import golden_actions, golden_problems
from h2j_lsp.features.model import SOURCE, ClientDiagnostic
from h2j_lsp.golden import (
    CorruptGolden,
    StaleGolden,
    read_golden,
    stale_goldens,
    structural_diff,
    without_locations,
)
from h2j_lsp.session import Document, EditorText, KernelResults
from helion2json.worker.protocol import ExportResult

CONTRACT = json.loads(
    (Path(__file__).parents[1] / "helion2json/tests/data/contract_matmul.json").read_text()
)


def body(document: dict) -> list[dict]:
    return document["module"]["funcs"][0]["body"]


def test_identical_documents_have_no_difference() -> None:
    assert structural_diff(CONTRACT, copy.deepcopy(CONTRACT)) == []


def test_moved_source_lines_are_no_difference() -> None:
    moved = copy.deepcopy(CONTRACT)
    for op in body(moved):
        op["loc"] = {"file": "k.py", "line": 99, "col": 0}
    assert structural_diff(CONTRACT, moved) == []
    assert without_locations(moved) == CONTRACT


def test_a_changed_attribute_names_the_op_and_field() -> None:
    changed = copy.deepcopy(CONTRACT)
    body(changed)[4]["attrs"]["beta"] = 2.0
    body(changed)[4]["loc"] = {"file": "k.py", "line": 21, "col": 0}
    [difference] = structural_diff(CONTRACT, changed)
    assert difference.path == "matmul.body[4].attrs.beta"
    assert difference.line == 21
    assert str(difference) == 'matmul.body[4].attrs.beta (line 21): torch.addmm → "acc": 1.0 → 2.0'


def test_an_inserted_op_is_one_difference() -> None:
    changed = copy.deepcopy(CONTRACT)
    relu = {
        "op": "torch.relu",
        "overload": "default",
        "result": "acc",
        "args": ["acc"],
        "attrs": {},
    }
    body(changed).insert(6, relu)
    differences = structural_diff(CONTRACT, changed)
    assert [str(d) for d in differences] == ['matmul.body[6]: op added: torch.relu → "acc"']


def test_a_removed_op_and_a_changed_block_size() -> None:
    changed = copy.deepcopy(CONTRACT)
    body(changed)[1]["sizes"] = [8, 4]
    del body(changed)[2]
    messages = [str(d) for d in structural_diff(CONTRACT, changed)]
    assert 'matmul.body[1].sizes[0]: hl.tile.begin → ["tile_m", "tile_n"]: 4 → 8' in messages
    assert 'matmul.body[2]: op removed: hl.zeros → "acc"' in messages


def test_kernel_signature_and_module_changes() -> None:
    changed = copy.deepcopy(CONTRACT)
    changed["module"]["name"] = "other"
    changed["module"]["funcs"][0]["args"][0]["type"]["tensor"]["elem"] = "f16"
    messages = [str(d) for d in structural_diff(CONTRACT, changed)]
    assert messages == [
        'module.name: "helion_module" → "other"',
        'matmul.args[0].type.tensor.elem: "f32" → "f16"',
    ]
    renamed = copy.deepcopy(CONTRACT)
    renamed["module"]["funcs"][0]["name"] = "mm"
    assert [str(d) for d in structural_diff(CONTRACT, renamed)] == [
        "matmul: kernel removed",
        "mm: kernel added",
    ]


def test_a_missing_golden_is_none_and_a_corrupt_one_says_why(tmp_path: Path) -> None:
    assert read_golden(tmp_path / "missing.json") is None
    (tmp_path / "blocker").write_text("")
    assert read_golden(tmp_path / "blocker" / "under-a-file.json") is None
    (tmp_path / "broken.json").write_text('{"version": 1, "module": ')
    with pytest.raises(CorruptGolden, match="not JSON"):
        read_golden(tmp_path / "broken.json")
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    with pytest.raises(CorruptGolden, match="not a regular file"):
        read_golden(tmp_path / "zero.json")


def test_a_corrupt_golden_is_stale_with_the_reason(tmp_path: Path) -> None:
    out = tmp_path / "helion-json"
    out.mkdir()
    (out / "k.matmul.helion.json").write_text("not json")
    [stale] = stale_goldens(out, str(tmp_path), "k", "matmul", [CONTRACT])
    assert stale.golden == "helion-json/k.matmul.helion.json"
    assert stale.differences == () and stale.corrupt is not None
    assert stale.corrupt.startswith("not JSON")


def test_the_editor_shows_a_corrupt_golden_with_the_update_action() -> None:
    text = "import helion\n\n# h2j: args(1)\n@helion.kernel()\ndef add(x):\n    return x\n"
    scan = scan_source(text)
    document = Document("file:///k.py", "/k.py", lambda: EditorText(text, 1), scan)
    corrupt = StaleGolden(0, "helion-json/k.add.helion.json", (), corrupt="not JSON: bad")
    outcome = ExportResult(True, CONTRACT, (), {})
    document.results["add"] = KernelResults(
        scan.kernels[0].first_decorator_line, (outcome,), (corrupt,)
    )
    [problem] = golden_problems(document)
    assert problem.code == "golden-corrupt" and problem.severity == "information"
    assert problem.message == (
        "the committed export helion-json/k.add.helion.json is corrupt (not JSON: bad)"
    )
    sent = ClientDiagnostic(problem.code, SOURCE, {"kernel": "add", "example": 0})
    [action] = golden_actions(document, [sent])
    assert action.command == "h2j.lsp.exportKernel"
    assert action.arguments == ["file:///k.py", "add", 0]
