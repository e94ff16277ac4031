"""``python -m helion2json.worker``: the persistent exporter process behind ``h2j-lsp``.

The worker speaks JSON-RPC (:mod:`helion2json.worker.rpc`) on the stdin/stdout it was started
with; see :mod:`helion2json.worker.protocol` for the messages. User code gets neither: its
prints go to stderr and its reads of stdin find nothing.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import BinaryIO

from helion2json.worker.exporter import ModuleExporter
from helion2json.worker.rpc import serve
from helion2json.worker.service import WorkerService, worker_info

# The exit status when the process that started the worker went away mid-request: over SSH
# nothing else would stop a worker stuck in user code once the connection dropped.
EXIT_ORPHANED = 3
_PARENT_POLL_S = 0.5


def claim_stdio() -> tuple[BinaryIO, BinaryIO]:
    """Keep the real stdin/stdout for the protocol; user code gets /dev/null and stderr.

    Both the Python objects and file descriptors 0 and 1 are redirected, because C
    extensions write to fd 1 directly.
    """
    sys.stdout.flush()
    protocol_in = os.fdopen(os.dup(0), "rb")
    protocol_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return protocol_in, protocol_out


def exit_when_orphaned(poll_s: float = _PARENT_POLL_S) -> None:
    """Exit once the parent (the client, or sshd's session) is gone, even mid-request."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                os._exit(EXIT_ORPHANED)

    threading.Thread(target=watch, name="h2j-parent-watch", daemon=True).start()


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="h2j-worker: %(levelname)s: %(message)s")
    reader, writer = claim_stdio()
    exit_when_orphaned()
    exporter = ModuleExporter()
    exporter.warm_up()
    serve(WorkerService(exporter, worker_info()).handlers(), reader, writer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
