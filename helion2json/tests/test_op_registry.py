"""The op registry (``helion2json.core.ops``) and the three places that must keep in step with it.

The exporter's handlers declare the ops they emit, the schema builds its op
union from the registry, and the interpreter registers one executor per op:
an op one of them knows and the registry does not, or a registered op that
the schema or the interpreter lacks, fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch

from helion2json import export_kernel
from helion2json.core.capture.registry import EMITS, HANDLERS, TRANSLATOR_EMITS
from helion2json.core.ops import OPS, TORCH, OpModel, spec_of
from helion2json.core.schema import json_schema
from helion2json.interpret.registry import EXECUTORS, executes
from helion2json.tests.kernels import FAMILIES


def exporter_ops() -> set[str]:
    return {name for emits in EMITS.values() for name in emits} | set(TRANSLATOR_EMITS)


def registered(name: str) -> bool:
    spec = spec_of(name)
    return spec is not None and spec.name == name


def test_every_op_the_exporter_emits_is_registered() -> None:
    unknown = sorted(name for name in exporter_ops() if not registered(name))
    assert not unknown, f"the exporter emits ops the registry lacks: {unknown}"
    assert set(EMITS) == set(HANDLERS)


def test_every_registered_op_has_a_schema_model() -> None:
    definitions = json_schema()["$defs"]
    for name, spec in OPS.items():
        assert issubclass(spec.model, OpModel)
        assert spec.model.__name__ in definitions, (
            f"{name}: {spec.model.__name__} not in the schema"
        )
    assert spec_of("torch.anything") is OPS[TORCH]


def test_every_registered_op_is_executed_or_structures_the_program() -> None:
    for name, spec in OPS.items():
        if spec.region is None:
            assert name in EXECUTORS, f"the interpreter has no executor for {name}"
        else:
            assert name not in EXECUTORS, f"{name} is structure, yet has an executor"


def test_the_interpreter_executes_registered_ops_only() -> None:
    unknown = sorted(name for name in EXECUTORS if not registered(name))
    assert not unknown, f"the interpreter executes ops the registry lacks: {unknown}"
    with pytest.raises(ValueError, match="not an op of the format"):
        executes("hl.not_an_op")(lambda interpreter, op: None)
    assert "hl.not_an_op" not in EXECUTORS


def test_exported_documents_hold_declared_ops_only() -> None:
    declared = exporter_ops()
    for family in FAMILIES:
        torch.manual_seed(0)
        document = export_kernel(family.kernel, family.make_args(), locations=False)
        for op in ops_of(document["module"]["funcs"][0]["body"]):
            name = TORCH if op["op"].startswith("torch.") else op["op"]
            assert name in declared, f"{family.name} exports {op['op']}, which no handler declares"


def ops_of(body: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """A body's ops and those of its combine functions."""
    for op in body:
        yield op
        if "combine" in op:
            yield from ops_of(op["combine"]["body"])
