"""JSON-RPC 2.0 over ``Content-Length`` framed byte streams, with the standard library only.

The worker reads one message at a time and answers it before reading the next, on the main
thread and with no event loop around the handler: the user code a handler runs is free to
use asyncio and signals. Only requests are answered; notifications and responses are read
and ignored, since the worker offers no notification and sends no request. The worker
stops at the end of its input.

A frame that cannot be read (a header without a usable ``Content-Length``, a body that is
not JSON) is answered with a ``-32700`` error whose id is null and logged to stderr; the
worker then reads on from the next frame.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

logger = logging.getLogger("helion2json.worker")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

# A request carries one file's text; a larger body is refused (and skipped) unread.
MAX_CONTENT_LENGTH = 64 * 2**20
_MAX_HEADER_LINE = 8 * 2**10
_MAX_LENGTH_DIGITS = 18
_SKIP_CHUNK = 2**20
_CONTENT_TYPE = b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"

Handler = Callable[[Any], Any]


class RpcError(Exception):
    """Raised by a handler to answer its request with this JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class FramingError(Exception):
    """A frame's header gives no usable body length; the stream is past that frame."""


def read_frame(reader: BinaryIO, max_length: int = MAX_CONTENT_LENGTH) -> bytes | None:
    """The next frame's body, or None where the stream ends between frames.

    Raises :class:`FramingError` for an unusable header, after reading up to the blank line
    that ends it and, where the body's length is known, past the body too; ``EOFError``
    where the stream ends inside a frame.
    """
    length: int | None = None
    problem: str | None = None
    started = long_line = False
    while True:
        line = reader.readline(_MAX_HEADER_LINE)
        if not line:
            if started:
                raise EOFError("the input ended inside a message header")
            return None
        started = True
        if not line.endswith(b"\n"):
            problem = problem or "a header line is too long"
            long_line = True
            continue
        if long_line:  # the end of a line too long to read at once, not a header of its own
            long_line = False
            continue
        if line in (b"\r\n", b"\n"):
            break
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon:
            problem = problem or f"malformed header line {line[:80]!r}"
        elif name.strip().lower() == "content-length":
            text = value.strip()
            # A bounded number of digits: int() refuses thousands of them with ValueError.
            valid = text.isascii() and text.isdigit() and len(text) <= _MAX_LENGTH_DIGITS
            length = int(text) if valid else None
            if length is None:
                problem = problem or f"invalid Content-Length {text[:80]!r}"
    if length is None:
        raise FramingError(problem or "a message header without Content-Length")
    if problem is None and length > max_length:
        problem = f"Content-Length {length} exceeds the limit of {max_length} bytes"
    if problem is not None:
        _skip(reader, length)  # its length is known: the next frame can still be found
        raise FramingError(problem)
    return _read_exactly(reader, length)


def _read_exactly(reader: BinaryIO, length: int) -> bytes:
    chunks: list[bytes] = []
    left = length
    while left > 0:
        chunk = reader.read(left)
        if not chunk:
            raise EOFError("the input ended inside a message body")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _skip(reader: BinaryIO, length: int) -> None:
    while length > 0:
        chunk = reader.read(min(length, _SKIP_CHUNK))
        if not chunk:
            raise EOFError("the input ended inside a message body")
        length -= len(chunk)


def write_frame(writer: BinaryIO, message: Mapping[str, Any]) -> None:
    body = json.dumps(message).encode("utf-8")
    writer.write(b"Content-Length: %d\r\n%s\r\n%s" % (len(body), _CONTENT_TYPE, body))
    writer.flush()


def answer(handlers: Mapping[str, Handler], body: bytes) -> dict[str, Any] | None:
    """The reply to one frame's body, or None where it needs none."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError) as exc:
        return error_reply(None, PARSE_ERROR, f"Parse Error: {exc}")
    if not isinstance(message, dict):
        return error_reply(None, INVALID_REQUEST, "Invalid Request: not a JSON object")
    message_id = message.get("id")
    # Where the id is usable the client learns which of its requests was refused.
    reply_id = message_id if _valid_id(message_id) else None
    if message.get("jsonrpc") != "2.0":
        return error_reply(reply_id, INVALID_REQUEST, "Invalid Request: not JSON-RPC 2.0")
    if "method" not in message:
        if "id" in message and ("result" in message or "error" in message):
            return None  # a response: the worker sends no request that it would answer
        return error_reply(reply_id, INVALID_REQUEST, "Invalid Request: no method")
    if "id" not in message:
        return None  # a notification: none is handled
    method = message["method"]
    if not isinstance(method, str) or reply_id is None:
        return error_reply(reply_id, INVALID_REQUEST, "Invalid Request: bad method or id")
    handler = handlers.get(method)
    if handler is None:
        logger.warning("unknown method %r", method)
        return error_reply(message_id, METHOD_NOT_FOUND, f"Method Not Found: {method}")
    try:
        result = handler(message.get("params"))
    except RpcError as exc:
        return error_reply(message_id, exc.code, exc.message, exc.data)
    except Exception as exc:
        logger.exception("request %r failed", method)
        return _internal_error(message_id, exc)
    return {"jsonrpc": "2.0", "id": message_id, "result": result}


def error_reply(
    message_id: int | str | None, code: int, message: str, data: Any = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": message_id, "error": error}


def _internal_error(message_id: int | str | None, exc: BaseException) -> dict[str, Any]:
    return error_reply(
        message_id,
        INTERNAL_ERROR,
        "".join(traceback.format_exception_only(type(exc), exc)).strip(),
        {"traceback": traceback.format_tb(exc.__traceback__)},
    )


def _valid_id(message_id: Any) -> bool:
    return isinstance(message_id, (str, int)) and not isinstance(message_id, bool)


def serve(handlers: Mapping[str, Handler], reader: BinaryIO, writer: BinaryIO) -> None:
    """Answer requests until the input ends or the output is closed."""
    while True:
        try:
            body = read_frame(reader)
        except FramingError as exc:
            logger.warning("unreadable message: %s", exc)
            reply: dict[str, Any] | None = error_reply(None, PARSE_ERROR, f"Parse Error: {exc}")
        except EOFError as exc:
            logger.warning("%s", exc)
            return
        else:
            if body is None:
                return
            reply = answer(handlers, body)
        if reply is not None and not _send(writer, reply):
            return


def _send(writer: BinaryIO, reply: dict[str, Any]) -> bool:
    """Write a reply; False once the client no longer reads them."""
    try:
        try:
            write_frame(writer, reply)
        except (TypeError, ValueError) as exc:  # a result that JSON cannot hold
            logger.exception("cannot encode the reply")
            write_frame(writer, _internal_error(reply.get("id"), exc))
    except OSError as exc:
        logger.warning("cannot answer: %s", exc)
        return False
    return True
