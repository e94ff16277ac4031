"""Every annotated kernel in ``examples/`` exports on each of its ``# h2j: args(...)``."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from helion2json import export_kernel
from helion2json.core.example_args import evaluate_call_arguments, evaluation_namespace

EXAMPLES = Path(__file__).parents[2] / "examples"
DIRECTIVE = re.compile(r"^# h2j: args\((?P<args>.*)\)\s*$")
KERNEL = re.compile(r"^def (?P<name>\w+)\(")


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"examples_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def annotated_kernels(path: Path) -> list[tuple[str, list[str]]]:
    """(kernel name, its argument lists) for each kernel: directives sit above its decorator."""
    found: list[tuple[str, list[str]]] = []
    directives: list[str] = []
    for line in path.read_text().splitlines():
        if match := DIRECTIVE.match(line):
            directives.append(match["args"])
        elif match := KERNEL.match(line):
            if directives:
                found.append((match["name"], directives))
            directives = []
        elif not line.startswith(("@", "#")):
            directives = []
    return found


def cases() -> list[Any]:
    return [
        pytest.param(path, name, text, id=f"{path.stem}:{name}:{i}")
        for path in sorted(EXAMPLES.glob("*.py"))
        for name, texts in annotated_kernels(path)
        for i, text in enumerate(texts)
    ]


def test_every_example_is_annotated() -> None:
    for path in EXAMPLES.glob("*.py"):
        assert annotated_kernels(path), f"{path.name} has no annotated kernel"


@pytest.mark.parametrize(("path", "name", "text"), cases())
def test_example_exports(path: Path, name: str, text: str) -> None:
    module = load(path)
    example = evaluate_call_arguments(text, evaluation_namespace(vars(module)))
    document = export_kernel(getattr(module, name), example.args, example_kwargs=example.kwargs)
    func = document["module"]["funcs"][0]
    assert func["name"] == name
    assert func["body"][-1]["op"] == "hl.return"


def test_an_argument_that_raises_is_located_by_its_column() -> None:
    from helion2json.core.errors import ArgumentError

    text = "len([]), *ξs, eps=1 / 0"
    with pytest.raises(ArgumentError) as raised:
        evaluate_call_arguments(text, {"ξs": []})
    assert raised.value.location is not None
    assert raised.value.location.col == text.index("1 / 0")
