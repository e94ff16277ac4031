"""What a real editor, or a broken one, can send the server: invalid params, notifications
for documents it closed, frames that are not JSON, and URIs of special files.

The server must answer every request (an error reply where the request is wrong), never
show the user an error for a situation the protocol allows, and keep serving.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fault_support import kernel
from raw_client import RawClient

pytestmark = pytest.mark.fault

INVALID_PARAMS = -32602
PARSE_ERROR = -32700
INVALID_REQUEST = -32600


def shown_errors(client: RawClient) -> list[dict[str, Any]]:
    """``window/showMessage`` errors and warnings the user would have seen as toasts."""
    return [
        message
        for message in client.seen
        if message.get("method") == "window/showMessage" and message["params"]["type"] <= 2
    ]


def start(workspace: Path, trusted: bool) -> RawClient:
    client = RawClient([sys.executable, "-m", "h2j_lsp"])
    client.request(
        "initialize",
        {
            "processId": None,
            "rootUri": workspace.as_uri(),
            "capabilities": {},
            "initializationOptions": {"trusted": trusted, "settings": {"debounceMs": 0}},
        },
    )
    client.notify("initialized", {})
    return client


@contextlib.contextmanager
def serving(workspace: Path, trusted: bool) -> Iterator[RawClient]:
    """A started server, killed on the way out if a failed test left it running."""
    client = start(workspace, trusted)
    try:
        yield client
    finally:
        if client.process.poll() is None:
            client.process.kill()


def stop(client: RawClient) -> None:
    """``shutdown`` and ``exit``: the server ends with status 0."""
    assert client.request("shutdown", None) is None
    exit_server(client)


def exit_server(client: RawClient) -> None:
    client.notify("exit", None)
    assert client.process.wait(timeout=30) == 0


def still_answers(client: RawClient, uri: str) -> None:
    """A plain request after the fault gets its normal answer."""
    symbols = client.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    assert [symbol["name"] for symbol in symbols] == ["add"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[RawClient, str]]:
    source = tmp_path / "k.py"
    source.write_text(kernel())
    with serving(tmp_path, trusted=False) as client:
        uri = source.as_uri()
        client.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": kernel()}},
        )
        yield client, uri
        stop(client)


@pytest.mark.parametrize(
    "position",
    [{"line": 0, "character": -5}, {"line": -1, "character": 0}, {"line": "x", "character": 0}],
    ids=["negative-character", "negative-line", "string-line"],
)
def test_request_with_invalid_params_gets_an_error_reply(
    server: tuple[RawClient, str], position: dict[str, Any]
) -> None:
    client, uri = server
    reply = client.reply("textDocument/hover", {"textDocument": {"uri": uri}, "position": position})
    assert reply["error"]["code"] == INVALID_PARAMS, reply
    assert shown_errors(client) == []
    still_answers(client, uri)


def test_change_after_close_is_ignored(server: tuple[RawClient, str]) -> None:
    # VS Code's "Don't Save" on close: didClose, then a didChange reverting the text.
    client, uri = server
    client.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": uri, "version": 2},
            "contentChanges": [{"text": kernel(name="edited")}],
        },
    )
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    client.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": uri, "version": 3}, "contentChanges": [{"text": kernel()}]},
    )
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "python", "version": 4, "text": kernel()}},
    )
    still_answers(client, uri)
    assert shown_errors(client) == []


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2",
        b"\xff\xfe",
        b'{"jsonrpc": "2.0", "id": 7, "method": 5}',
        # JSON, but no JSON-RPC message: nothing runs (not even this shutdown).
        b"[1, 2]",
        b"5",
        b'{"id": 7, "method": "shutdown"}',
    ],
    ids=[
        "broken-json",
        "truncated-array",
        "not-utf8",
        "method-not-a-string",
        "array",
        "number",
        "no-jsonrpc",
    ],
)
def test_malformed_frame_gets_a_parse_error_reply(
    server: tuple[RawClient, str], body: bytes
) -> None:
    client, uri = server
    client.send_frame(body)
    reply = client.wait(lambda m: "error" in m and "method" not in m)
    assert reply["error"]["code"] in (PARSE_ERROR, -32600), reply
    assert reply["id"] in (None, 7)
    still_answers(client, uri)
    assert shown_errors(client) == []


@pytest.mark.parametrize("trusted", [True, False])
def test_preview_of_a_special_file_is_refused(tmp_path: Path, trusted: bool) -> None:
    (tmp_path / "zero.py").symlink_to("/dev/zero")
    with serving(tmp_path, trusted=trusted) as client:
        reply = client.request(
            "workspace/executeCommand",
            {
                "command": "h2j.lsp.previewJson",
                "arguments": [(tmp_path / "zero.py").as_uri(), "add", 0],
            },
        )
        assert reply["ok"] is False
        assert "not a regular file" in reply["text"] or not trusted
        stop(client)


def test_change_to_a_document_never_opened_reads_nothing(
    tmp_path: Path, server: tuple[RawClient, str]
) -> None:
    # A change for a URI the server does not hold is not applied to the file on disk (which
    # may be anything).
    client, uri = server
    (tmp_path / "zero.py").symlink_to("/dev/zero")
    client.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": (tmp_path / "zero.py").as_uri(), "version": 2},
            "contentChanges": [
                {
                    "range": {
                        "start": {"line": 0, "character": 0},
                        "end": {"line": 0, "character": 0},
                    },
                    "text": "x",
                }
            ],
        },
    )
    still_answers(client, uri)
    assert shown_errors(client) == []


def test_request_after_shutdown_gets_an_error_reply(tmp_path: Path) -> None:
    with serving(tmp_path, trusted=False) as client:
        assert client.request("shutdown", None) is None
        uri = (tmp_path / "x.py").as_uri()
        reply = client.reply("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
        assert reply["error"]["code"] == INVALID_REQUEST, reply
        exit_server(client)
