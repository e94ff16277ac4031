"""helion2json: export Helion kernels to a lossless, validated JSON format.

The schema and the errors import without torch or helion; the exporter entry
points import them on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from helion2json.core.errors import (
    ArgumentError,
    BindError,
    ExportError,
    HelionVersionError,
    IRStructureError,
    NoBindingError,
    SourceLocation,
    UnsupportedError,
    ValidationError,
)
from helion2json.core.schema import HelionJsonSpec, validate_spec

if TYPE_CHECKING:
    from helion2json.core.export import dump_kernel_json, export_kernel

__all__ = [
    "ArgumentError",
    "BindError",
    "ExportError",
    "HelionJsonSpec",
    "HelionVersionError",
    "IRStructureError",
    "NoBindingError",
    "SourceLocation",
    "UnsupportedError",
    "ValidationError",
    "dump_kernel_json",
    "export_kernel",
    "validate_spec",
]

__version__ = "0.1.0"

_LAZY = {"export_kernel", "dump_kernel_json"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from helion2json.core import export

        return getattr(export, name)
    raise AttributeError(f"module 'helion2json' has no attribute {name!r}")
