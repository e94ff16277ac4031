"""Kernels of every family the exporter covers, with their example arguments.

``FAMILIES`` is the registry the export, verify and benchmark suites iterate:
a kernel added here is exported, validated, interpreted and measured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from helion2json.tests.kernels import linalg


@dataclass(frozen=True)
class Family:
    name: str
    kernel: Any
    make_args: Callable[[], tuple[Any, ...]]
    # Families whose reference mode cannot run on CPU name another reference here.
    reference: Callable[..., Any] | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)


def _matmul_args() -> tuple[Any, ...]:
    return (torch.randn(4, 8), torch.randn(8, 4))


FAMILIES: list[Family] = [
    Family("matmul", linalg.matmul, _matmul_args, reference=torch.matmul),
]


def family(name: str) -> Family:
    return next(f for f in FAMILIES if f.name == name)
