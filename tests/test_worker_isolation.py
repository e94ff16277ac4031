"""The worker runs where the language server's packages are not installed (a GPU host).

The worker is started as the client starts it, ``python -m helion2json.worker``, with a
``sitecustomize`` that makes ``pygls``, ``lsprotocol`` and ``h2j_lsp`` unimportable, and is
spoken to over its pipes with nothing but the framing of ``helion2json.worker.rpc``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from helion2json.worker.protocol import EXPORT, HELLO, PROTOCOL_VERSION, ExportRequest
from helion2json.worker.rpc import (
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    read_frame,
    write_frame,
)

KernelSource = Callable[..., str]
BLOCKED = ("pygls", "lsprotocol", "h2j_lsp")
LOADED = "h2j-test: language server packages blocked"
REFUSED = "h2j-test: refused import of"

SITECUSTOMIZE = f"""\
import sys

BLOCKED = {BLOCKED!r}


class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            sys.stderr.write({REFUSED!r} + " " + name + "\\n")
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
        return None


for loaded in [name for name in sys.modules if name.partition(".")[0] in BLOCKED]:
    del sys.modules[loaded]
sys.meta_path.insert(0, Blocker())
sys.stderr.write({LOADED!r} + "\\n")
"""


@pytest.fixture
def blocked_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose Python cannot import the language server's packages."""
    site = tmp_path / "blocker"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    path = [str(site), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


def frames(*messages: dict[str, Any] | bytes) -> bytes:
    stream = BytesIO()
    for message in messages:
        if isinstance(message, bytes):
            stream.write(b"Content-Length: %d\r\n\r\n%s" % (len(message), message))
        else:
            write_frame(stream, {"jsonrpc": "2.0", **message})
    return stream.getvalue()


def test_the_blocker_blocks(blocked_env: dict[str, str]) -> None:
    for name in BLOCKED:
        run = subprocess.run(
            [sys.executable, "-c", f"import {name}"],
            env=blocked_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 1
        assert f"{REFUSED} {name}" in run.stderr
        assert "(blocked)" in run.stderr


def test_the_worker_exports_without_the_language_server_packages(
    blocked_env: dict[str, str], tmp_path: Path, kernel_text: KernelSource
) -> None:
    path = tmp_path / "kernels.py"
    text = kernel_text()
    export = ExportRequest(str(path), text, "combine", "torch.randn(8, 8), torch.randn(8, 8)")
    requests = frames(
        {"id": 1, "method": HELLO, "params": None},
        {"id": 2, "method": EXPORT, "params": {"path": str(path)}},
        {"id": 3, "method": "h2j/unknown", "params": None},
        b"{not json",
        {"method": "exit"},
        {"id": 4, "method": EXPORT, "params": export.to_wire()},
    )
    # All requests at once, then the end of input: the worker answers each in turn and exits.
    worker = subprocess.run(
        [sys.executable, "-m", "helion2json.worker"],
        input=requests,
        cwd=tmp_path,
        env=blocked_env,
        capture_output=True,
        timeout=300,
    )
    stderr = worker.stderr.decode("utf-8", "replace")
    assert worker.returncode == 0, stderr
    assert LOADED in stderr
    assert REFUSED not in stderr

    output = BytesIO(worker.stdout)
    replies = []
    while (body := read_frame(output)) is not None:
        replies.append(json.loads(body))
    hello, invalid, unknown, unparsable, exported = replies
    assert hello["id"] == 1
    assert hello["result"]["protocol"] == PROTOCOL_VERSION
    assert (invalid["id"], invalid["error"]["code"]) == (2, INVALID_PARAMS)
    assert invalid["error"]["message"] == "export request lacks 'text'"
    assert (unknown["id"], unknown["error"]["code"]) == (3, METHOD_NOT_FOUND)
    assert (unparsable["id"], unparsable["error"]["code"]) == (None, PARSE_ERROR)

    assert exported["id"] == 4
    result = exported["result"]["result"]
    assert result["ok"], result["diagnostics"]
    ops = [op["op"] for op in result["document"]["module"]["funcs"][0]["body"]]
    assert "torch.add" in ops
    assert exported["result"]["worker"]["requests"] == 1
