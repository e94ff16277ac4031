"""What the family tests share: each family's document, exported once per test module, and
helpers that pick ops out of a function's body."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import torch

from helion2json import export_kernel, validate_spec
from helion2json.core.capture.translator import KernelTranslator
from helion2json.core.capture.values import ExportOptions
from helion2json.core.export import bind_kernel
from helion2json.tests.kernels import family

SCHEMA = json.loads((Path(__file__).parents[1] / "schema" / "helion2json.schema.json").read_text())

Func = dict[str, Any]
Op = dict[str, Any]

# The type of an index: tile offsets, tile properties, block sizes.
INDEX = {"scalar": "i64"}


def tensor(shape: list[Any], elem: str) -> dict[str, Any]:
    return {"tensor": {"shape": shape, "elem": elem}}


class Documents:
    """Each family's exported function, exported on first use."""

    def __init__(self) -> None:
        self.funcs: dict[str, Func] = {}

    def __getitem__(self, name: str) -> Func:
        if name not in self.funcs:
            torch.manual_seed(0)
            selected = family(name)
            document = export_kernel(selected.kernel, selected.make_args(), locations=False)
            self.funcs[name] = document["module"]["funcs"][0]
        return self.funcs[name]


def ops(func: Func, name: str) -> list[Op]:
    return [op for op in func["body"] if op["op"] == name]


def one(func: Func, name: str) -> Op:
    found = ops(func, name)
    assert len(found) == 1, f"{len(found)} {name} ops"
    return found[0]


def walk(body: list[Op]) -> Iterator[Op]:
    """Every op, including those of combine functions."""
    for op in body:
        yield op
        if "combine" in op:
            yield from walk(op["combine"]["body"])


def loops(func: Func) -> list[Op]:
    return ops(func, "hl.tile.begin")


def region(func: Func, begin: Op) -> list[Op]:
    """The ops of one tile loop, its own begin and end excluded."""
    body = func["body"]
    start = next(i for i, op in enumerate(body) if op is begin)
    depth = 0
    for end in range(start, len(body)):
        depth += {"hl.tile.begin": 1, "hl.tile.end": -1}.get(body[end]["op"], 0)
        if depth == 0:
            return body[start + 1 : end]
    raise AssertionError("unbalanced tile loop")


def slice_of(base: str, offsets: list[Any], sizes: list[Any]) -> dict[str, Any]:
    return {"slice": {"base": base, "offsets": offsets, "sizes": sizes}}


def translate(kernel: Any, args: tuple[Any, ...], config: Any = None) -> Func:
    bound = bind_kernel(kernel, args)
    options = ExportOptions(locations=False, config=config)
    func = KernelTranslator(bound, kernel.fn.__name__, options).translate()
    document = {"version": 1, "module": {"name": "m", "funcs": [func]}}
    validate_spec(document)
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    return func


def source_line(path: str, line: int) -> str:
    """Line ``line`` of the file at ``path`` (a test module's ``__file__``)."""
    return Path(path).read_text().splitlines()[line - 1]
