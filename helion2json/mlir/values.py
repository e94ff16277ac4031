"""The lowering's values, MLIR types, and the text builder every lowering function writes to."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Builder",
    "HostValue",
    "LoweringError",
    "ScalarValue",
    "TensorValue",
    "TileValue",
    "Value",
    "is_float",
    "mlir_elem",
]

# Element types the lowering computes with: MLIR's signless integers and IEEE floats.
_UNSIGNED = ("ui8", "ui16", "ui32", "ui64")
_SUPPORTED = ("i1", "i8", "i16", "i32", "i64", *_UNSIGNED, "f16", "bf16", "f32", "f64")
_FLOAT_WIDTH = {"f16": 16, "bf16": 16, "f32": 32, "f64": 64}
_INT_WIDTH = {"i1": 1, "i8": 8, "i16": 16, "i32": 32, "i64": 64, "index": 64}
_INT_WIDTH |= {f"u{elem}": width for elem, width in _INT_WIDTH.items() if elem[1:].isdigit()}

# MLIR's integers are signless: the lowering writes the format's unsigned types
# (``ui8``...) while it builds the text, so that each op that differs for them takes its
# unsigned form here, and ``signless`` then spells them as the integers of their width.
_UNSIGNED_FORMS = {
    "arith.divsi": "arith.divui",
    "arith.floordivsi": "arith.divui",
    "arith.ceildivsi": "arith.ceildivui",
    "arith.remsi": "arith.remui",
    "arith.maxsi": "arith.maxui",
    "arith.minsi": "arith.minui",
    "arith.shrsi": "arith.shrui",
    "arith.cmpi slt": "arith.cmpi ult",
    "arith.cmpi sle": "arith.cmpi ule",
    "arith.cmpi sgt": "arith.cmpi ugt",
    "arith.cmpi sge": "arith.cmpi uge",
}
# An unsigned type stands alone or ends a shaped type's dimensions (``tensor<?xui8>``).
_UNSIGNED_TYPE = re.compile(r"(?<![A-Za-wyz0-9_])u(i(?:8|16|32|64))\b")


def unsigned_form(text: str) -> str:
    """``text`` (one op) with its signed integer op in its unsigned form where its operands
    are of an unsigned type (``: ui8``), and unsigned conversions from or to one."""
    operands_type = text.rsplit(" : ", 1)[-1]
    if operands_type in _UNSIGNED:
        for signed, unsigned in _UNSIGNED_FORMS.items():
            if text.startswith(signed + " ") or text.startswith(signed + ","):
                return unsigned + text[len(signed) :]
    if " : ui" in text:
        for signed, unsigned in (
            ("arith.extsi", "arith.extui"),
            ("arith.sitofp", "arith.uitofp"),
            ("arith.index_cast ", "arith.index_castui "),
        ):
            if text.startswith(signed):
                return unsigned + text[len(signed) :]
    if text.startswith("arith.fptosi") and re.search(r" to ui\d+$", text):
        return "arith.fptoui" + text[len("arith.fptosi") :]
    return text


def signless(text: str) -> str:
    """MLIR text with the format's unsigned types written as signless integers."""
    return _UNSIGNED_TYPE.sub(r"\1", text)


class LoweringError(Exception):
    """An op the lowering cannot express: ``op`` names it, ``loc`` is its source position."""

    def __init__(
        self, message: str, *, op: str | None = None, loc: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.op = op
        self.loc = loc

    @property
    def where(self) -> str | None:
        if not self.loc:
            return None
        return f"{self.loc.get('file')}:{self.loc.get('line')}"

    def __str__(self) -> str:
        prefix = f"{self.where}: " if self.where else ""
        named = f"{self.op}: " if self.op else ""
        return f"{prefix}{named}{self.message}"


def mlir_elem(elem: str) -> str:
    """The MLIR element type of a format element type, or a ``LoweringError``."""
    if elem not in _SUPPORTED:
        raise LoweringError(f"element type {elem} is not lowered")
    return elem


def is_float(elem: str) -> bool:
    return elem in _FLOAT_WIDTH


def shape_text(shape: Sequence[int | None]) -> str:
    return "".join(f"{'?' if extent is None else extent}x" for extent in shape)


@dataclass(frozen=True)
class TensorValue:
    """A device value: ``tensor<...>``; ``dims`` holds an ``index`` SSA name per axis."""

    ssa: str
    elem: str
    shape: tuple[int | None, ...]
    dims: tuple[str, ...]

    @property
    def type(self) -> str:
        return f"tensor<{shape_text(self.shape)}{self.elem}>"


@dataclass(frozen=True)
class ScalarValue:
    """A scalar SSA value of type ``elem`` (``index`` for integer expressions).

    ``typed``: an element of a tensor (a combine function's parameter), which takes part
    in type promotion as a tensor does; numbers and scalar arguments do not."""

    ssa: str
    elem: str
    typed: bool = False

    @property
    def type(self) -> str:
        return self.elem


Locate = Callable[["Builder", list[str]], list[str]]


@dataclass(frozen=True)
class HostValue:
    """A host tensor: ``memref<?x...xT>`` with its extents (an argument, an allocation), or a
    view of one (host code's ``reshape``, ``transpose``...): ``locate`` maps a position of
    the view to one of ``root``, the memref it views, and ``contiguous`` says whether the
    view's elements are in row-major order in it (a reshape needs that)."""

    ssa: str
    elem: str
    dims: tuple[str, ...]
    root: HostValue | None = None
    locate: Locate | None = None
    contiguous: bool = True

    @property
    def type(self) -> str:
        return f"memref<{shape_text([None] * len(self.dims))}{self.elem}>"

    def memref(self) -> HostValue:
        return self.root if self.root is not None else self

    def address(self, b: Builder, positions: list[str]) -> str:
        """``%memref[i, j] : type`` of the element at ``positions`` of this tensor."""
        memref = self.memref()
        if self.locate is not None:
            positions = self.locate(b, positions)
        return f"{memref.ssa}[{', '.join(positions)}] : {memref.type}"

    def load(self, b: Builder, positions: list[str]) -> str:
        return b.assign(f"memref.load {self.address(b, positions)}")

    def store(self, b: Builder, value: str, positions: list[str]) -> None:
        b.line(f"memref.store {value}, {self.address(b, positions)}")


@dataclass(frozen=True)
class TileValue:
    """An open tile: its offset, clamped extent, block size and loop bounds (all ``index``)."""

    offset: str
    size: str
    block: str
    begin: str
    end: str
    # The block size when the document writes it as a number (1 for hl.grid loops).
    static_block: int | None = None


Value = TensorValue | ScalarValue | HostValue | TileValue


class Builder:
    """MLIR text under construction: fresh SSA names, indentation, constants and casts."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 1
        self.counter = 0

    def fresh(self, stem: str = "v") -> str:
        self.counter += 1
        return f"%{stem}{self.counter}"

    def line(self, text: str) -> None:
        self.lines.append("  " * self.depth + text)

    def assign(self, text: str, stem: str = "v") -> str:
        name = self.fresh(stem)
        self.line(f"{name} = {unsigned_form(text)}")
        return name

    @contextmanager
    def nested(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def index(self, value: int) -> str:
        return self.assign(f"arith.constant {value} : index", "c")

    def constant(self, value: float | int | bool, elem: str) -> str:
        if is_float(elem):
            number = float(value)
            if math.isnan(number):
                text = {"f16": "0x7E00", "bf16": "0x7FC0", "f32": "0x7FC00000"}.get(
                    elem, "0x7FF8000000000000"
                )
            elif math.isinf(number):
                text = _infinity(elem, number < 0)
            else:
                # MLIR's float literals need digits after the point: 1.0e-05, not 1e-05.
                text = f"{number:.17e}"
            return self.assign(f"arith.constant {text} : {elem}", "c")
        if elem == "i1":
            return self.assign(f"arith.constant {'true' if value else 'false'}", "c")
        return self.assign(f"arith.constant {int(value)} : {elem}", "c")

    def convert(self, ssa: str, source: str, target: str) -> str:
        """``ssa`` of scalar type ``source`` converted as PyTorch converts to ``target``."""
        if source == target:
            return ssa
        if target == "i1":
            zero = self.constant(0, source)
            compare = "arith.cmpf une" if is_float(source) else "arith.cmpi ne"
            return self.assign(f"{compare}, {ssa}, {zero} : {source}")
        if is_float(source) and is_float(target):
            if {source, target} == {"bf16", "f16"}:
                ssa, source = self.convert(ssa, source, "f32"), "f32"
            op = "arith.extf" if _FLOAT_WIDTH[source] < _FLOAT_WIDTH[target] else "arith.truncf"
            return self.assign(f"{op} {ssa} : {source} to {target}")
        if is_float(target):
            op = "arith.uitofp" if source == "i1" else "arith.sitofp"
            if source == "index":
                ssa, source = self.convert(ssa, "index", "i64"), "i64"
            return self.assign(f"{op} {ssa} : {source} to {target}")
        if is_float(source):
            if target == "index":
                return self.convert(self.convert(ssa, source, "i64"), "i64", "index")
            return self.assign(f"arith.fptosi {ssa} : {source} to {target}")
        if source == "index" or target == "index":
            op = "arith.index_castui" if source == "i1" else "arith.index_cast"
            return self.assign(f"{op} {ssa} : {source} to {target}")
        if _INT_WIDTH[source] < _INT_WIDTH[target]:
            op = "arith.extui" if source == "i1" else "arith.extsi"
            return self.assign(f"{op} {ssa} : {source} to {target}")
        return self.assign(f"arith.trunci {ssa} : {source} to {target}")

    def text(self) -> str:
        return "\n".join(self.lines)


def _infinity(elem: str, negative: bool) -> str:
    bits = {
        "f16": (0x7C00, 0xFC00),
        "bf16": (0x7F80, 0xFF80),
        "f32": (0x7F800000, 0xFF800000),
        "f64": (0x7FF0000000000000, 0xFFF0000000000000),
    }[elem]
    return hex(bits[1] if negative else bits[0]).upper().replace("0X", "0x")
