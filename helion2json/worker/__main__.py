"""``python -m helion2json.worker``: the persistent exporter process behind ``h2j-lsp``.

The worker speaks JSON-RPC (:mod:`helion2json.worker.rpc`) on the stdin/stdout it was started
with; see :mod:`helion2json.worker.protocol` for the messages. User code gets neither: its
prints go to stderr and its reads of stdin find nothing.

The worker leads a process group of its own, and whatever user code leaves running in it
(a ``subprocess.Popen`` at module level, a forked child) is ended with the worker: a child
that outlived it would hold the worker's pipes, and with them the client's run.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from typing import BinaryIO

from helion2json.core.errors import HelionVersionError
from helion2json.core.triton_cpu import enable_interpreter_if_no_gpu
from helion2json.worker.exporter import ModuleExporter
from helion2json.worker.rpc import serve
from helion2json.worker.service import WorkerService, worker_info

# The exit status when the process that started the worker went away mid-request: over SSH
# nothing else would stop a worker stuck in user code once the connection dropped.
EXIT_ORPHANED = 3
_PARENT_POLL_S = 0.5

# Run beside the worker, in its process group: once the worker has gone, however it ended
# (its input closed, orphaned, crashed, killed), end the group, this process included.
_GROUP_REAPER = """\
import os, signal, sys, time
worker = int(sys.argv[1])
while os.getppid() == worker:
    time.sleep(0.1)
os.killpg(os.getpgrp(), signal.SIGKILL)
"""


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


def lead_process_group() -> bool:
    """Make the worker lead a process group of its own; False where it cannot.

    A local client starts the worker in a session of its own and sshd starts it as a session
    leader; run from elsewhere, the worker leaves its parent's group, so that ending its own
    group never reaches its parent. Not from a terminal: a process outside the terminal's
    foreground group is stopped when it reads the terminal.
    """
    if os.getpgrp() == os.getpid():
        return True
    if os.isatty(0):
        return False
    try:
        os.setpgid(0, 0)
    except OSError:
        return False
    return True


def end_group_with_worker() -> None:
    """Start the reaper that ends the worker's process group once the worker is gone."""
    try:
        subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _GROUP_REAPER, str(os.getpid())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError as exc:
        logging.getLogger("helion2json.worker").warning(
            "processes left by user code may outlive the worker: %s", exc
        )


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="h2j-worker: %(levelname)s: %(message)s")
    if lead_process_group():  # before claim_stdio, which hides whether stdin is a terminal
        end_group_with_worker()
    reader, writer = claim_stdio()
    exit_when_orphaned()
    # Before helion imports triton: verify's CPU reference runs the generated code in Triton's
    # interpreter, which triton only allows when this is set at its import.
    enable_interpreter_if_no_gpu()
    try:
        exporter = ModuleExporter()
    except HelionVersionError as exc:
        print(f"h2j-worker: error: {exc}", file=sys.stderr)
        return 2
    exporter.warm_up()
    serve(WorkerService(exporter, worker_info()).handlers(), reader, writer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
