"""What the interpreter computes with: tiles, element types, scalars, and its error."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from helion2json.core.dtypes import torch_dtype
from helion2json.core.errors import ElementTypeError
from helion2json.core.format_types import Loc

NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


class InterpretError(Exception):
    """A document cannot be executed: an unknown op, a missing name, a failing operator.

    ``op_index`` is the op's position in ``funcs[].body``, ``op`` its ``"op"``
    string and ``loc`` its source location, when the error concerns one op.
    """

    def __init__(
        self,
        message: str,
        *,
        op_index: int | None = None,
        op: str | None = None,
        loc: Loc | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.op_index = op_index
        self.op = op
        self.loc = loc

    def __str__(self) -> str:
        if self.op_index is None:
            return self.message
        where = f" ({self.loc.file}:{self.loc.line})" if self.loc is not None else ""
        return f"body[{self.op_index}] {self.op}{where}: {self.message}"


def dtype_of(elem: str) -> torch.dtype:
    """The torch dtype of an element-type string (``"f32"`` → ``torch.float32``)."""
    try:
        return torch_dtype(elem)
    except ElementTypeError as exc:
        raise InterpretError(exc.message) from None


@dataclass(frozen=True)
class Tile:
    """One iteration's tile along one dimension of a tile loop."""

    offset: int
    size: int  # clamped: min(block, end - offset)
    block: int
    begin: int
    end: int


def as_int(value: Any, name: str) -> int:
    if isinstance(value, Tile):
        return value.offset
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.dtype.is_floating_point or value.dtype.is_complex:
            raise InterpretError(f"'{name}' is not an integer scalar")
        return int(value.item())
    if isinstance(value, bool | int):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise InterpretError(f"'{name}' is {value!r}, not an integer")


def scalar_value(value: Any, name: str) -> Any:
    if isinstance(value, Tile):
        return value.offset
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise InterpretError(f"attr {name}: a tensor of {value.numel()} elements")
        return value.item()
    return value
