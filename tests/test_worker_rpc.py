"""The worker's JSON-RPC framing and dispatch, over in-memory streams."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from helion2json.worker.rpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    FramingError,
    RpcError,
    read_frame,
    serve,
    write_frame,
)


class Trickle(io.RawIOBase):
    """A pipe that hands over at most ``step`` bytes per read, as a slow writer's would."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._step = step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk, self._data = self._data[: self._step], self._data[self._step :]
        buffer[: len(chunk)] = chunk
        return len(chunk)


def frame(message: Any) -> bytes:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def request(method: str, params: Any = None, message_id: int = 1) -> bytes:
    return frame({"jsonrpc": "2.0", "id": message_id, "method": method, "params": params})


def replies(output: bytes) -> list[dict[str, Any]]:
    stream = io.BytesIO(output)
    found = []
    while (body := read_frame(stream)) is not None:
        found.append(json.loads(body))
    return found


def echo(params: Any) -> Any:
    return {"echo": params}


def refuse(params: Any) -> Any:
    raise RpcError(INVALID_PARAMS, "export request lacks 'path'")


def crash(params: Any) -> Any:
    raise KeyError("boom")


HANDLERS = {"echo": echo, "refuse": refuse, "crash": crash}


def run(data: bytes, *, step: int | None = None) -> list[dict[str, Any]]:
    reader = io.BufferedReader(Trickle(data, step)) if step else io.BytesIO(data)
    writer = io.BytesIO()
    serve(HANDLERS, reader, writer)  # type: ignore[arg-type]
    return replies(writer.getvalue())


def error_code(reply: dict[str, Any]) -> int:
    return int(reply["error"]["code"])


def test_a_request_is_answered_with_its_id() -> None:
    assert run(request("echo", {"a": [1, "é"]}, message_id=7)) == [
        {"jsonrpc": "2.0", "id": 7, "result": {"echo": {"a": [1, "é"]}}}
    ]


@pytest.mark.parametrize("step", [1, 3, 17])
def test_messages_arriving_in_pieces_are_reassembled(step: int) -> None:
    data = request("echo", "x" * 100, message_id=1) + request("echo", "y", message_id=2)
    assert [reply["result"]["echo"] for reply in run(data, step=step)] == ["x" * 100, "y"]


def test_two_messages_in_one_read_are_both_answered() -> None:
    data = request("echo", 1, message_id=1) + request("echo", 2, message_id=2)
    assert [reply["id"] for reply in run(data)] == [1, 2]


def test_other_headers_are_ignored_and_the_name_is_case_insensitive() -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "echo", "params": 5}).encode()
    data = b"content-length: %d\r\nContent-Type: application/json\r\n\r\n%s" % (len(body), body)
    assert run(data)[0]["result"] == {"echo": 5}


def test_written_frames_read_back() -> None:
    stream = io.BytesIO()
    write_frame(stream, {"jsonrpc": "2.0", "id": 1, "result": "ü"})
    assert stream.getvalue().startswith(b"Content-Length: ")
    stream.seek(0)
    body = read_frame(stream)
    assert body is not None and json.loads(body)["result"] == "ü"
    assert read_frame(stream) is None


def test_a_body_that_is_not_json_is_a_parse_error_and_the_next_message_is_answered() -> None:
    answered = run(frame(b"{not json") + frame(b"\xff\xfe") + request("echo", 3))
    assert [error_code(reply) for reply in answered[:2]] == [PARSE_ERROR, PARSE_ERROR]
    assert answered[0]["id"] is None
    assert answered[2]["result"] == {"echo": 3}


@pytest.mark.parametrize(
    "header",
    [
        b"Content-Length: -5\r\n\r\n",
        b"Content-Length: five\r\n\r\n",
        b"Content-Length 5\r\n\r\n",
        b"Content-Type: application/json\r\n\r\n",
        b"Content-Length: " + b"9" * 5_000 + b"\r\n\r\n",
        b"X-Long: " + b"a" * 20_000 + b"\r\nContent-Length: 2\r\n\r\n{}",
        b"X-Long: "
        + b"a" * (8 * 1024 - len("X-Long: "))
        + b"\r\n"
        + b"Content-Length: 2\r\n\r\n{}",
    ],
    ids=[
        "negative",
        "not-a-number",
        "no-colon",
        "no-length",
        "thousands-of-digits",
        "line-too-long",
        "line-too-long-by-its-line-break",
    ],
)
def test_a_bad_header_is_answered_and_reading_goes_on(header: bytes) -> None:
    refused, answered = run(header + request("echo", 4))
    assert error_code(refused) == PARSE_ERROR
    assert refused["id"] is None
    assert answered["result"] == {"echo": 4}


def test_an_oversize_body_is_refused_and_skipped_unread() -> None:
    huge = b"Content-Length: 100\r\n\r\n" + b"x" * 100
    stream = io.BytesIO(huge + request("echo", 5))
    with pytest.raises(FramingError, match="exceeds the limit"):
        read_frame(stream, max_length=10)
    body = read_frame(stream, max_length=10_000)
    assert body is not None and json.loads(body)["params"] == 5


def test_the_end_of_input_stops_serving() -> None:
    assert run(b"") == []
    with pytest.raises(EOFError):
        read_frame(io.BytesIO(b"Content-Length: 10\r\n"))
    with pytest.raises(EOFError):
        read_frame(io.BytesIO(b"Content-Length: 10\r\n\r\n{}"))


def test_a_truncated_last_message_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="helion2json.worker"):
        assert run(request("echo", 1) + b"Content-Length: 10\r\n\r\n{}") == [
            {"jsonrpc": "2.0", "id": 1, "result": {"echo": 1}}
        ]
    assert "ended inside a message body" in caplog.text


def test_errors_from_handlers_and_unknown_methods() -> None:
    refused, unknown, crashed = run(
        request("refuse", message_id=1)
        + request("h2j/nope", message_id=2)
        + request("crash", message_id=3)
    )
    assert refused == {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {"code": INVALID_PARAMS, "message": "export request lacks 'path'"},
    }
    assert unknown["id"] == 2
    assert unknown["error"] == {"code": METHOD_NOT_FOUND, "message": "Method Not Found: h2j/nope"}
    assert crashed["id"] == 3
    assert error_code(crashed) == INTERNAL_ERROR
    assert crashed["error"]["message"] == "KeyError: 'boom'"


def test_notifications_and_responses_get_no_answer() -> None:
    data = (
        frame({"jsonrpc": "2.0", "method": "exit"})
        + frame({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 1}})
        + frame({"jsonrpc": "2.0", "id": 9, "result": None})
        + request("echo", 6)
    )
    assert run(data) == [{"jsonrpc": "2.0", "id": 1, "result": {"echo": 6}}]


@pytest.mark.parametrize(
    ("message", "reply_id"),
    [
        ([1, 2], None),
        ({"id": 4, "method": "echo"}, 4),
        ({"jsonrpc": "2.0", "id": 5}, 5),
        ({"jsonrpc": "2.0", "id": True, "method": "echo"}, None),
        ({"jsonrpc": "2.0", "id": 6, "method": 7}, 6),
    ],
    ids=["batch", "no-version", "no-method", "bool-id", "number-method"],
)
def test_invalid_requests_are_answered(message: Any, reply_id: int | None) -> None:
    (reply,) = run(frame(message))
    assert error_code(reply) == INVALID_REQUEST
    assert reply["id"] == reply_id


def test_a_result_that_json_cannot_hold_is_an_internal_error() -> None:
    writer = io.BytesIO()
    serve({"odd": lambda params: {1j}}, io.BytesIO(request("odd")), writer)  # type: ignore[arg-type]
    (reply,) = replies(writer.getvalue())
    assert (reply["id"], error_code(reply)) == (1, INTERNAL_ERROR)


def test_a_closed_output_stops_serving() -> None:
    class Closed(io.BytesIO):
        def write(self, data: Any) -> int:
            raise BrokenPipeError("the client went away")

    serve(HANDLERS, io.BytesIO(request("echo") * 3), Closed())  # type: ignore[arg-type]
