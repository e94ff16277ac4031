"""The server against a second, independent client: JSON-RPC over stdio written with the
standard library only (Content-Length framing), declaring no capabilities beyond the basics
(push diagnostics only). The same run checks that the server process never imports torch or
helion."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from lsp_editor import KERNELS
from raw_client import RawClient

# Writes the server's sys.modules to the file named by its first argument when it exits.
SERVER = (
    "import atexit, json, sys\n"
    "out = sys.argv[1]\n"
    "atexit.register(lambda: open(out, 'w').write(json.dumps(sorted(sys.modules))))\n"
    "from h2j_lsp.__main__ import main\n"
    "raise SystemExit(main([]))\n"
)


def test_standard_library_client(tmp_path: Path) -> None:
    modules = tmp_path / "modules.json"
    text = KERNELS.replace("acc = torch.addmm(", "acc = torch.addmm_nope(")
    source = tmp_path / "raw.py"
    source.write_text(text)
    uri = source.as_uri()

    client = RawClient([sys.executable, "-c", SERVER, str(modules)])
    try:
        result = client.request(
            "initialize",
            {
                "processId": None,
                "rootUri": tmp_path.as_uri(),
                "capabilities": {},
                "initializationOptions": {"settings": {"debounceMs": 0}},
            },
        )
        assert "diagnosticProvider" not in result["capabilities"]
        assert result["serverInfo"]["name"] == "h2j-lsp"
        client.notify("initialized", {})
        client.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
        )
        exported = client.wait(
            lambda m: m.get("method") == "h2j/exported" and m["params"]["kernel"] == "matmul"
        )
        assert exported["params"] == {
            "uri": uri,
            "kernel": "matmul",
            "example": 0,
            "version": 1,
            "ok": False,
        }
        published = client.wait(
            lambda m: (
                m.get("method") == "textDocument/publishDiagnostics"
                and any(d.get("code") == "bind-error" for d in m["params"]["diagnostics"])
            )
        )
        assert published["params"]["version"] == 1
        [error] = [d for d in published["params"]["diagnostics"] if d["code"] == "bind-error"]
        line = text.split("\n").index(next(i for i in text.split("\n") if "addmm_nope" in i))
        assert error["range"]["start"]["line"] == line
        assert error["source"] == "h2j"

        preview = client.request(
            "workspace/executeCommand",
            {"command": "h2j.lsp.previewJson", "arguments": [uri, "add", 0]},
        )
        assert preview["ok"] is True
        assert json.loads(preview["text"])["module"]["funcs"][0]["name"] == "add"

        assert client.request("shutdown", None) is None
        client.notify("exit", None)
        assert client.process.wait(timeout=30) == 0
    finally:
        if client.process.poll() is None:
            client.process.kill()
            pytest.fail("the server did not exit")

    imported = set(json.loads(modules.read_text()))
    assert "pygls" in imported
    assert not {name for name in imported if name.split(".")[0] in ("torch", "helion", "triton")}
