"""A JSON-RPC client over stdio written with the standard library only (Content-Length
framing), for tests that must send what a well-behaved client library would refuse to."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from typing import IO, Any

TIMEOUT_S = 90.0


class RawClient:
    def __init__(self, command: list[str]) -> None:
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.incoming: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self._next_id = 0
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stream: IO[bytes]) -> None:
        while True:
            headers: dict[str, str] = {}
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("ascii").partition(":")
                headers[name.strip().lower()] = value.strip()
            if not headers:
                return
            body = stream.read(int(headers["content-length"]))
            self.incoming.put(json.loads(body.decode("utf-8")))

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        self.send_frame(body)

    def send_frame(self, body: bytes) -> None:
        """One Content-Length frame around ``body``, whatever it holds."""
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params: Any) -> Any:
        reply = self.reply(method, params)
        assert "error" not in reply, reply
        return reply["result"]

    def reply(self, method: str, params: Any) -> dict[str, Any]:
        """The whole response to a request: its ``result`` or its ``error``."""
        self._next_id += 1
        ident = self._next_id
        self.send({"id": ident, "method": method, "params": params})
        return self.wait(lambda m: m.get("id") == ident and "method" not in m)

    def wait(self, match: Any, timeout: float = TIMEOUT_S) -> dict[str, Any]:
        for message in self.seen:
            if match(message):
                return message
        deadline = time.monotonic() + timeout
        while True:
            message = self.incoming.get(timeout=max(deadline - time.monotonic(), 0.01))
            self.seen.append(message)
            if "id" in message and "method" in message:
                # A request from the server: this client supports none of them.
                self.send({"id": message["id"], "error": {"code": -32601, "message": "no"}})
            if match(message):
                return message
