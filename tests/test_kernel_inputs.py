"""The cache key of one kernel's export: what changes it, and what does not."""

from __future__ import annotations

import dataclasses

from h2j_lsp.cache import ExportCache, kernel_inputs
from helion2json.worker.protocol import ExportRequest

VERSIONS = {"torch": "2.13.0", "helion": "1.5.1", "helion2json": "0.1.0", "device": "cpu"}

MODULE = """\
import helion
import torch

SCALE = 2.0


def helper(x):
    return x * SCALE


# h2j: args(torch.randn(4, 4))
@helion.kernel()
def first(x):
    return helper(x)


# h2j: args(torch.randn(8, 8))
# h2j: config(block_sizes=[4])
@helion.kernel(static_shapes=True)
def second(x):
    out = x + 1
    return out
"""


def request(text: str = MODULE, kernel: str = "second", **changes: object) -> ExportRequest:
    base = ExportRequest("/p/k.py", text, kernel, "torch.randn(8, 8)")
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def key(text: str = MODULE, kernel: str = "second", **changes: object) -> str:
    return ExportCache.key(request(text, kernel, **changes), VERSIONS)


def test_the_inputs_are_the_kernels_own_lines_and_the_module_without_kernels() -> None:
    inputs = kernel_inputs(request())
    assert inputs.source == (
        "@helion.kernel(static_shapes=True)\ndef second(x):\n    out = x + 1\n    return out\n"
    )
    assert inputs.first_line == MODULE.split("\n").index("@helion.kernel(static_shapes=True)")
    assert "def helper(x):" in inputs.module and "SCALE = 2.0" in inputs.module
    assert "def first" not in inputs.module and "def second" not in inputs.module
    assert "h2j:" not in inputs.module
    assert inputs.args_text == "torch.randn(8, 8)"


def test_its_own_body_changes_the_key() -> None:
    assert key(MODULE.replace("out = x + 1", "out = x + 2")) != key()


def test_another_kernels_body_or_directives_leave_it() -> None:
    assert key(MODULE.replace("return helper(x)", "return helper(x) + 1")) == key()
    assert key(MODULE.replace("args(torch.randn(4, 4))", "args(torch.randn(2, 2))")) == key()
    # A line added inside a kernel above moves this one: its locations change.
    moved = MODULE.replace("return helper(x)", "y = x\n    return helper(y)")
    assert key(moved) != key()
    # A line added in the kernel below moves nothing.
    below = request(kernel="first")
    grown = MODULE.replace("    return out\n", "    out = out * 1\n    return out\n")
    assert ExportCache.key(dataclasses.replace(below, text=grown), VERSIONS) == ExportCache.key(
        below, VERSIONS
    )


def test_the_module_code_outside_kernels_changes_every_key() -> None:
    changed = MODULE.replace("SCALE = 2.0", "SCALE = 3.0")
    assert key(changed) != key()
    assert key(changed, "first") != key(kernel="first")
    assert key(MODULE + "# a comment at the end\n") != key()


def test_its_directives_and_settings_change_the_key() -> None:
    for change in (
        {"args_text": "torch.randn(4, 4)"},
        {"example_index": 1},
        {"config_text": "block_sizes=[8]"},
        {"config_line": 3},
        {"module_name": "m"},
        {"locations": False},
        {"path": "/p/other.py"},
    ):
        assert key(**change) != key(), change
    for name in VERSIONS:
        assert ExportCache.key(request(), {**VERSIONS, name: "other"}) != key(), name


def test_a_kernel_not_found_statically_keys_on_the_whole_text() -> None:
    inputs = kernel_inputs(request(kernel="made_by_code"))
    assert inputs.module == MODULE and inputs.source == "" and inputs.first_line == -1
    unparsable = MODULE + "def broken(:\n"
    assert kernel_inputs(request(unparsable)).module == unparsable


def test_lines_end_where_python_ends_them() -> None:
    # A form feed is no line break for Python: the kernel's first line stays the same.
    with_feed = MODULE.replace("SCALE = 2.0", "SCALE = 2.0  \f")
    assert kernel_inputs(request(with_feed)).first_line == kernel_inputs(request()).first_line
    crlf = MODULE.replace("\n", "\r\n")
    assert kernel_inputs(request(crlf)).first_line == kernel_inputs(request()).first_line
