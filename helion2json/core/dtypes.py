"""The format's element types and the torch dtypes they stand for: one table for all.

The schema reads the names without torch (it must validate documents on machines
that have neither torch nor helion); the exporter and the interpreter convert
between names and ``torch.dtype`` with the helpers below, which import torch on
first use.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Literal

from helion2json.core.errors import ElementTypeError, SourceLocation

if TYPE_CHECKING:
    import torch

# Element type → the name of its ``torch`` dtype, in the order the JSON Schema lists them.
TORCH_NAMES: dict[str, str] = {
    "i1": "bool",
    "i8": "int8",
    "i16": "int16",
    "i32": "int32",
    "i64": "int64",
    "ui8": "uint8",
    "ui16": "uint16",
    "ui32": "uint32",
    "ui64": "uint64",
    "f16": "float16",
    "bf16": "bfloat16",
    "f32": "float32",
    "f64": "float64",
    "f8E4M3FN": "float8_e4m3fn",
    "f8E5M2": "float8_e5m2",
    "f8E4M3FNUZ": "float8_e4m3fnuz",
    "f8E5M2FNUZ": "float8_e5m2fnuz",
    "complex64": "complex64",
    "complex128": "complex128",
}
ELEMENT_TYPES = tuple(TORCH_NAMES)

if TYPE_CHECKING:
    ElementType = str
else:
    ElementType = Literal[ELEMENT_TYPES]


@functools.cache
def _torch_dtypes() -> dict[str, torch.dtype]:
    import torch

    # Older torch releases lack the wider unsigned types: they have no dtype here.
    return {
        elem: getattr(torch, name) for elem, name in TORCH_NAMES.items() if hasattr(torch, name)
    }


@functools.cache
def _element_types() -> dict[torch.dtype, str]:
    return {dtype: elem for elem, dtype in _torch_dtypes().items()}


def element_type(dtype: torch.dtype, location: SourceLocation | None = None) -> str:
    """The element type of a torch dtype (``torch.float32`` → ``"f32"``).

    Raises ``ElementTypeError`` for a dtype the format has no element type for.
    """
    try:
        return _element_types()[dtype]
    except KeyError:
        raise ElementTypeError(
            f"element type {dtype} has no spelling in the format", location=location
        ) from None


def torch_dtype(elem: str) -> torch.dtype:
    """The torch dtype of an element type (``"f32"`` → ``torch.float32``).

    Raises ``ElementTypeError`` for a name that is no element type of this torch.
    """
    try:
        return _torch_dtypes()[elem]
    except KeyError:
        raise ElementTypeError(f"unknown element type {elem!r}") from None


def dtype_label(dtype: torch.dtype) -> str:
    """A dtype as messages name it: its element type, else torch's own spelling."""
    return _element_types().get(dtype, str(dtype))
