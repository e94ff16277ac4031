"""Fixtures for the cross-package tests: a real sshd, and annotated kernel sources."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sshd_server import SshServer, running_sshd, sshd_available

ARGS = "torch.randn(8, 8), torch.randn(8, 8)"

KERNEL_TEMPLATE = """\
import helion
import helion.language as hl
import torch
{prelude}

# h2j: args({args})
@helion.kernel(static_shapes=True)
def {name}(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        out[tile_m, tile_n] = {expression}
    return out
"""

KernelSource = Callable[..., str]


def kernel_source(
    expression: str = "x[tile_m, tile_n] + y[tile_m, tile_n]",
    *,
    name: str = "combine",
    prelude: str = "",
    args: str = ARGS,
) -> str:
    """An annotated elementwise kernel; ``expression`` computes one output tile."""
    return KERNEL_TEMPLATE.format(prelude=prelude, args=args, name=name, expression=expression)


@pytest.fixture(scope="session")
def kernel_text() -> KernelSource:
    return kernel_source


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """A real OpenSSH server on 127.0.0.1 whose client settings keep host-key checking on."""
    if not sshd_available():
        pytest.skip("needs /usr/sbin/sshd, ssh and ssh-keygen (apt-get install openssh-server)")
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server
