"""Everything that reads Helion's private IR, and the range of releases it reads.

Helion's device IR (``helion._compiler``) changes between releases: the
classes the exporter recognises are imported here only (``ir()``), once the
installed version is checked (``check_helion_version``, ``SUPPORTED_HELION``).
``install()`` patches Helion to record each ATen node's arguments as traced;
the export path calls it before binding a kernel.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
from types import SimpleNamespace
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version
from torch.fx import Node

from helion2json.core.errors import (
    HelionVersionError,
    SourceLocation,
    one_line,
    relative_source_path,
)

SUPPORTED_HELION = SpecifierSet(">=1.5.0,<1.6")
# The (torch, helion) pairs the test suite runs against (README, "Supported versions").
TESTED_PAIRS = (("2.13.0", "1.5.1"), ("2.11.0", "1.5.0"))

# Where the recorder below keeps a node's arguments as traced (see install).
TRACED_ARGUMENTS_META = "helion2json_traced_arguments"


def helion_version() -> str:
    return importlib.metadata.version("helion")


def check_helion_version() -> None:
    installed = helion_version()
    if Version(installed) not in SUPPORTED_HELION:
        raise HelionVersionError(
            f"helion {installed} is installed, but this exporter reads the device IR of "
            f"helion {SUPPORTED_HELION}; install a supported helion release ({_tested_pairs()})"
        )
    try:
        import helion  # noqa: F401
    except ImportError as exc:
        # A helion release built for a newer torch fails deep inside its own imports.
        raise HelionVersionError(
            f"helion {installed} does not import with torch "
            f"{importlib.metadata.version('torch')}: {one_line(exc)}; install a tested pair "
            f"({_tested_pairs()})"
        ) from None


def _tested_pairs() -> str:
    return "tested: " + ", ".join(
        f"torch {torch} + helion {helion}" for torch, helion in TESTED_PAIRS
    )


def install() -> None:
    """Keep every ATen node's arguments as traced, before Helion rewrites them.

    While preparing its lowerings Helion replaces operands it does not need
    for code generation with ``None`` in place: a repeated operand
    (``x * x`` becomes ``mul(x, None)``) and the inputs of an op that Inductor
    splits into several buffers (``mean`` becomes a sum node plus
    ``mean(None, dims)``). The format needs the operator as written, so this
    wraps the one function that does the rewriting and stores the original
    arguments in the node's metadata. Kernels bound after the first call
    record them (further calls change nothing); the translator reports a clear
    error for a kernel bound earlier whose IR lost an operand.
    """
    try:
        from helion._compiler import inductor_lowering
    except ImportError:  # an unsupported helion: check_helion_version says so
        return
    strip = getattr(inductor_lowering, "strip_unused_inputs", None)
    if strip is None or getattr(strip, "records_traced_arguments", False):
        return

    @functools.wraps(strip)
    def recording_strip(node: Node, *args: Any, **kwargs: Any) -> Any:
        kept_kwargs = {k: v for k, v in node.kwargs.items() if not k.startswith("_extra")}
        node.meta.setdefault(TRACED_ARGUMENTS_META, (node.args, kept_kwargs))
        return strip(node, *args, **kwargs)

    recording_strip.records_traced_arguments = True  # type: ignore[attr-defined]
    inductor_lowering.strip_unused_inputs = recording_strip


@functools.cache
def ir() -> SimpleNamespace:
    """Helion's private classes this module reads, imported once the version is checked."""
    from helion._compiler import variable_origin as origins
    from helion._compiler.device_ir import (
        ForLoopGraphInfo,
        HelperFunctionGraphInfo,
        IfGraphInfo,
        ReductionLoopGraphInfo,
    )
    from helion._compiler.inductor_lowering import ReductionLowering
    from helion._compiler.type_info import BlockSizeType, LiteralType
    from torch._inductor.ir import Reduction

    return SimpleNamespace(
        ForLoopGraphInfo=ForLoopGraphInfo,
        HelperFunctionGraphInfo=HelperFunctionGraphInfo,
        IfGraphInfo=IfGraphInfo,
        ReductionLoopGraphInfo=ReductionLoopGraphInfo,
        ReductionLowering=ReductionLowering,
        BlockSizeType=BlockSizeType,
        LiteralType=LiteralType,
        InductorReduction=Reduction,
        origins=origins,
    )


def literal_number(node: ast.AST) -> int | float | None:
    """The number Helion's type propagation folded an expression of the kernel into.

    Helion evaluates expressions of specialised values (sizes under
    ``static_shapes``, ``hl.specialize``, constants) while it binds, and the
    device code holds their result.
    """
    type_info = getattr(node, "_type_info", None)
    if not isinstance(type_info, ir().LiteralType):
        return None
    value = getattr(type_info, "value", None)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def node_location(node: Node) -> SourceLocation | None:
    location = node.meta.get("location")
    if location is None or getattr(location, "lineno", None) is None:
        return None
    return SourceLocation(
        relative_source_path(location.filename), int(location.lineno), int(location.colno or 0)
    )


def is_helion_op(target: Any) -> bool:
    module = getattr(target, "__module__", "") or ""
    return module.startswith("helion.")


def is_helion_function(target: Any, name: str) -> bool:
    return is_helion_op(target) and getattr(target, "__name__", "") == name


def is_device_loop(stmt: ast.stmt) -> bool:
    loop_type = getattr(stmt, "_loop_type", None)
    return isinstance(stmt, ast.For) and loop_type is not None and loop_type.name == "GRID"


def iter_block_ids(iter_node: ast.expr) -> list[int]:
    type_info = getattr(iter_node, "_type_info", None)
    inner = getattr(type_info, "inner", None)
    if inner is None:
        return []
    elements = getattr(inner, "element_types", None)
    items = list(elements) if isinstance(elements, (list, tuple)) else [inner]
    block_ids: list[int] = []
    for item in items:
        block_id = getattr(item, "block_id", None)
        if not isinstance(block_id, int):
            return []
        block_ids.append(block_id)
    return block_ids


def is_jagged_tile(env: Any, block_id: int) -> bool:
    """Whether ``block_id`` is a ``hl.jagged_tile`` loop's block (helion 1.5 has them)."""
    check = getattr(env, "is_jagged_tile", None)
    return bool(check(block_id)) if callable(check) else False
