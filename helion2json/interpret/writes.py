"""The parallel-write rule: programs of a launch store into disjoint elements.

Programs of a grid loop (and of the grid loops of one launch, up to an
``hl.barrier``) may run at the same time; the format leaves an element two of
them store into without an atomic undefined. The interpreter runs them one by
one, so it records which program stored each element and fails on the second.
"""

from __future__ import annotations

import torch

from helion2json.interpret.values import InterpretError


class LaunchWrites:
    """The program that last stored each element of each host tensor, in one launch."""

    def __init__(self) -> None:
        self.owners: dict[str, torch.Tensor] = {}
        # The running program (a counter over the launch's grid loops); None outside them.
        self.program: int | None = None
        self.programs = 0

    def start_program(self) -> None:
        self.program = self.programs
        self.programs += 1

    def end_programs(self) -> None:
        self.program = None

    def store(self, name: str, tensor: torch.Tensor, positions: torch.Tensor) -> None:
        """Note that the running program stores ``positions`` (linear) of ``tensor``."""
        if self.program is None:
            return
        owners = self.owners.get(name)
        if owners is None or owners.numel() != tensor.numel():
            owners = torch.full((tensor.numel(),), -1, dtype=torch.int64)
            self.owners[name] = owners
        flat = positions.reshape(-1).to(owners.device)
        previous = owners[flat]
        clash = (previous >= 0) & (previous != self.program)
        if bool(clash.any()):
            first = int(clash.nonzero()[0, 0])
            element = [int(i) for i in torch.unravel_index(flat[first], tensor.shape)]
            raise InterpretError(
                f"programs {int(previous[first])} and {self.program} of a grid loop both store "
                f"element {element} of '{name}' without an atomic: programs write disjoint "
                "elements (docs/json-format.md, Execution model)"
            )
        owners[flat] = self.program
