"""Start exporter workers, locally or on a GPU host over SSH, and ask them for exports.

A :class:`WorkerClient` owns one ``python -m helion2json.worker`` process and talks JSON-RPC
to it through pygls. It never raises for a failure of the user's code or of the
infrastructure: a hung worker is killed and restarted (``timeout``), a crashed one restarted
(``worker-failure``), an unreachable host reported (``transport``) and retried on the next
request. Verifies go through the same worker, after any export that waits for it.
:class:`WorkerPool` spreads exports over several workers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import posixpath
import re
import shlex
import signal
import sys
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from cattrs import Converter
from lsprotocol import converters
from pygls.client import JsonRPCClient
from pygls.exceptions import JsonRpcException
from pygls.io_ import run_async
from pygls.protocol import (
    JsonRPCNotification,
    JsonRPCProtocol,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
)

from h2j_lsp.cache import ExportCache
from helion2json.worker.protocol import (
    EXPORT,
    HELLO,
    PROTOCOL_VERSION,
    TIMEOUT,
    TRANSPORT,
    VERIFY,
    WORKER_FAILURE,
    Dependency,
    ExportDiagnostic,
    ExportRequest,
    ExportResult,
    VerifyReport,
    VerifyRequest,
    WorkerInfo,
    failure,
    verify_failure,
)

logger = logging.getLogger(__name__)

WorkerState = Literal["stopped", "starting", "idle", "exporting", "failed"]

# How long a worker gets to exit on its own after its stdin closes, before it is killed.
_GRACE_S = 5.0
# How long to read on from the pipes of a worker that has exited: what it wrote before it
# exited arrives at once; a process that left its group may hold the pipes open for ever.
_PIPES_WAIT_S = 1.0
_PIPE_LIMIT = 2**16
_STDERR_LINES = 50
# ssh's own failures (unreachable host, refused authentication, dropped connection).
_SSH_FAILED = 255
_SSH_NOISE = ("Warning: Permanently added",)
# Once a worker has started, its stderr also carries the user's prints; only these lines,
# written by the worker itself, by Python or by ssh, explain why it ended.
_EXPLAINS_EXIT = re.compile(
    r"^(h2j-worker: |Fatal Python error|ssh: |Connection (to \S+ )?closed|client_loop: "
    r"|Timeout, server|Received disconnect|Disconnected from|Write failed|packet_write_wait)"
)


@dataclass(frozen=True)
class HostSettings:
    """Where and how workers run.

    Locally the worker is ``python -m helion2json.worker`` in ``local_root`` (default: the
    current directory). With ``ssh_host`` it is the same command run through the system
    ``ssh`` in ``remote_root``, and file paths under ``local_root`` map to the same relative
    paths under ``remote_root`` (and back, for diagnostics). Without ``remote_root`` the
    project is taken to live at the same path on both machines.
    """

    python: str = sys.executable
    ssh_host: str | None = None
    remote_python: str = "python3"
    remote_root: str | None = None
    local_root: str | None = None
    ssh_args: tuple[str, ...] = ()
    timeout_s: float = 60.0
    max_requests: int = 500
    max_rss_mb: int = 4096
    env: Mapping[str, str] | None = None
    start_timeout_s: float = 180.0

    def __hash__(self) -> int:
        # Equal settings share a worker, so they key dictionaries; env may be a plain dict.
        env = None if self.env is None else tuple(sorted(self.env.items()))
        fields = [getattr(self, name) for name in self.__dataclass_fields__ if name != "env"]
        return hash((*fields, env))

    @property
    def host_label(self) -> str:
        return self.ssh_host or "local"

    def command(self) -> list[str]:
        """The worker's argv: never run through a local shell."""
        if self.ssh_host is None:
            return [self.python, "-m", "helion2json.worker"]
        if self.ssh_host.startswith("-"):
            # ssh would read it as an option (e.g. -oProxyCommand=...).
            raise ValueError(f"invalid SSH host {self.ssh_host!r}")
        # Exported locations are relative to the worker's directory: the project's root.
        root = self.remote_root or self.local_root or os.getcwd()
        python = shlex.quote(self.remote_python)
        remote = f"cd {shlex.quote(root)} && exec {python} -m helion2json.worker"
        # -T: a pseudo-terminal (e.g. RequestTTY in ~/.ssh/config) would mangle the protocol.
        return ["ssh", *self.ssh_args, "-T", "-o", "BatchMode=yes", self.ssh_host, "--", remote]

    def working_directory(self) -> str | None:
        """The local worker's directory; exported locations are relative to it."""
        return None if self.ssh_host else (self.local_root or os.getcwd())

    def to_remote(self, path: str) -> str:
        roots = self._roots()
        if roots is None:
            return path
        local_root, remote_root = roots
        relative = _relative_to(os.path.abspath(path), local_root, os.path)
        if relative is None:
            return path
        return posixpath.join(remote_root, *relative.split(os.sep)) if relative else remote_root

    def to_local(self, path: str) -> str:
        roots = self._roots()
        if roots is None:
            return path
        local_root, remote_root = roots
        relative = _relative_to(path, remote_root, posixpath)
        if relative is None:
            return path
        return os.path.join(local_root, *relative.split("/")) if relative else local_root

    def _roots(self) -> tuple[str, str] | None:
        if self.ssh_host is None or self.remote_root is None:
            return None
        local_root = os.path.abspath(self.local_root or os.getcwd())
        return local_root, posixpath.normpath(self.remote_root)


def _relative_to(path: str, root: str, paths: Any) -> str | None:
    """``path`` relative to ``root`` ('' for the root itself), or None outside it."""
    path, root = paths.normpath(path), paths.normpath(root)
    if path == root:
        return ""
    prefix = root if root.endswith(paths.sep) else root + paths.sep
    return path[len(prefix) :] if path.startswith(prefix) else None


class _Expired(Exception):
    """A request outlived the timeout."""


class _WorkerGone(Exception):
    """The worker process ended (or its connection dropped) before answering."""


def _json_rpc_converter() -> Converter:
    """pygls' converter, but message params and results stay plain dicts.

    pygls' default turns them into namedtuples, which would lose keys that are not
    identifiers and cost a conversion on every document.
    """
    converter = converters.get_converter()
    for message_type in (JsonRPCRequestMessage, JsonRPCResponseMessage, JsonRPCNotification):
        converter.register_structure_hook(message_type, _as_is)
    return converter


def _as_is(data: dict[str, Any], message_type: type) -> Any:
    return message_type(**data)


class _WorkerPipes(asyncio.subprocess.SubprocessStreamProtocol):
    """asyncio's protocol for a process's pipes that also tells when the process exits.

    ``Process.wait()`` returns only once every pipe is closed too, and a process the worker
    left behind may hold them open for ever.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, on_exit: Callable[[], None]) -> None:
        super().__init__(limit=_PIPE_LIMIT, loop=loop)
        self._on_exit = on_exit

    def process_exited(self) -> None:
        super().process_exited()
        self._on_exit()


class _Rpc(JsonRPCClient):
    """pygls' JSON-RPC client over a worker process whose stderr is kept, not left to fill up.

    The worker runs in a session of its own, and its process group ends with it: a process
    that user code started would otherwise live on, holding the worker's pipes.
    """

    def __init__(self) -> None:
        super().__init__(protocol_cls=JsonRPCProtocol, converter_factory=_json_rpc_converter)
        # Set once the worker has exited and what it wrote before has been read.
        self.exited = asyncio.Event()
        self.stderr_lines: deque[str] = deque(maxlen=_STDERR_LINES)
        self._process_ended = asyncio.Event()
        self._transport: asyncio.SubprocessTransport | None = None

    async def spawn(self, argv: list[str], cwd: str | None, env: Mapping[str, str]) -> int:
        loop = asyncio.get_running_loop()
        transport, pipes = await loop.subprocess_exec(
            lambda: _WorkerPipes(loop, self._process_ended.set),
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
        )
        process = asyncio.subprocess.Process(transport, pipes, loop)
        assert process.stdin is not None and process.stdout is not None
        self._transport = transport
        self._server = process
        self.protocol.set_writer(process.stdin)
        readers = [
            asyncio.create_task(
                run_async(
                    stop_event=self._stop_event,
                    reader=process.stdout,
                    protocol=self.protocol,
                    logger=logger,
                    error_handler=self.report_server_error,
                )
            ),
            asyncio.create_task(self._drain_stderr(process)),
        ]
        self._async_tasks.extend([*readers, asyncio.create_task(self._follow_exit(readers))])
        return process.pid

    async def _drain_stderr(self, process: asyncio.subprocess.Process) -> None:
        """Keep the last lines; in chunks, so that no line is too long to read."""
        assert process.stderr is not None
        partial = b""
        while chunk := await process.stderr.read(_PIPE_LIMIT):
            *lines, partial = (partial + chunk).split(b"\n")
            partial = partial[-_PIPE_LIMIT:]
            for line in lines:
                self._keep_stderr(line)
        self._keep_stderr(partial)

    def _keep_stderr(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip()
        if line:
            self.stderr_lines.append(line)
            logger.debug("worker: %s", line)

    async def _follow_exit(self, readers: list[asyncio.Task[None]]) -> None:
        """Once the worker has exited: end its group, read what it wrote, then say so."""
        await self._process_ended.wait()
        assert self._server is not None
        # Its group's id is its pid, which stays taken while anything of the group lives.
        _end_process_group(self._server.pid)
        # Its last answer and the lines that say why it ended are in the pipes already: read
        # them, but a pipe that some process outside the group still holds is not waited on.
        _, pending = await asyncio.wait(readers, timeout=_PIPES_WAIT_S)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._stop_event.set()
        self.exited.set()

    def report_server_error(self, error: Exception, source: Any) -> None:
        logger.warning("worker protocol error: %s", error)

    @property
    def returncode(self) -> int | None:
        return None if self._server is None else self._server.returncode

    async def finish(self) -> None:
        """Release the pipes and tasks of a worker that has exited."""
        await self.exited.wait()
        if self._transport is not None:
            self._transport.close()
        await asyncio.gather(*self._async_tasks, return_exceptions=True)


def _end_process_group(pgid: int) -> None:
    """SIGKILL every process of a group, if any is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


class _Connection:
    """One worker process, from spawn to exit."""

    def __init__(self, settings: HostSettings) -> None:
        self.settings = settings
        self.rpc = _Rpc()
        self.pid: int | None = None
        self.info: WorkerInfo | None = None
        self.closing = False

    @property
    def alive(self) -> bool:
        return self.pid is not None and not self.rpc.exited.is_set() and not self.closing

    async def open(self) -> None:
        environment = dict(os.environ)
        environment.update(self.settings.env or {})
        self.pid = await self.rpc.spawn(
            self.settings.command(), self.settings.working_directory(), environment
        )

    def request(self, method: str, params: Any) -> asyncio.Future[Any]:
        """Send a request; the future fails with ``_WorkerGone`` if the worker dies first."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()
        # A caller that stopped waiting (timeout, cancellation) must not see this fail loudly.
        answer.add_done_callback(_ignore_outcome)
        if not self.alive:
            answer.set_exception(_WorkerGone())
            return answer
        try:
            sent = self.rpc.protocol.send_request(method, params)
        except OSError:
            answer.set_exception(_WorkerGone())
            return answer

        def settle(done: concurrent.futures.Future[Any]) -> None:
            if answer.done():
                return
            error = done.exception()
            if error is None:
                answer.set_result(done.result())
            elif isinstance(error, JsonRpcException):
                answer.set_exception(error)
            else:  # pygls fails pending requests with RuntimeError when the process exits
                answer.set_exception(_WorkerGone())

        # pygls settles requests from its reader task, on this loop's thread.
        sent.add_done_callback(settle)
        # The worker exited without answering (its last answer has been read by then).
        gone = asyncio.ensure_future(self.rpc.exited.wait())
        gone.add_done_callback(lambda _: _settle_gone(answer))
        answer.add_done_callback(lambda _: gone.cancel())
        return answer

    async def close(self, *, kill: bool) -> None:
        """Stop the worker: ask it to exit (stdin closed), killing it if ``kill`` or it lingers."""
        self.closing = True
        process = self.rpc._server
        if process is None:
            return
        if not kill and process.stdin is not None:
            process.stdin.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.rpc.exited.wait(), _GRACE_S)
        if process.returncode is None:
            _end_process_group(process.pid)
        await self.rpc.finish()

    async def exit_reason(self) -> tuple[str, str]:
        """Why the worker ended, as a message and a diagnostic code."""
        await self.rpc.exited.wait()
        return describe_exit(
            self.settings,
            self.rpc.returncode,
            list(self.rpc.stderr_lines),
            connected=self.info is not None,
        )


def _settle_gone(answer: asyncio.Future[Any]) -> None:
    if not answer.done():
        answer.set_exception(_WorkerGone())


def _ignore_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def describe_exit(
    settings: HostSettings, returncode: int | None, stderr: list[str], *, connected: bool
) -> tuple[str, str]:
    """A one-line cause for a worker that ended, and whether it was the transport's fault."""
    lines = [line for line in stderr if not line.startswith(_SSH_NOISE)]
    if connected:
        lines = [line for line in lines if _EXPLAINS_EXIT.match(line)]
    detail = lines[-1] if lines else ""
    host = settings.ssh_host
    if host is not None and returncode == _SSH_FAILED:
        if not connected:
            reason = detail or f"ssh exited with status {_SSH_FAILED}"
            return f"cannot reach GPU host '{host}': {reason}", TRANSPORT
        if detail:
            return f"lost the connection to GPU host '{host}': {detail}", TRANSPORT
        # ssh says nothing when the remote worker is killed by a signal.
        return (
            f"the exporter worker on GPU host '{host}' was killed or its connection dropped "
            f"(ssh exited with status {_SSH_FAILED})",
            TRANSPORT,
        )
    where = f" on GPU host '{host}'" if host else ""
    if returncode is not None and returncode < 0:
        how = f"was killed by {_signal_name(-returncode)}"
    else:
        how = f"exited with status {returncode}"
    message = f"the exporter worker{where} {how}"
    return (f"{message}: {detail}" if detail else message), WORKER_FAILURE


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class WorkerClient:
    """One worker, started on first use and restarted when it hangs, crashes or grows.

    Requests are answered one at a time. Cancelling :meth:`export` drops its answer; the
    worker finishes that request (or is killed at its timeout) and takes the next.
    """

    def __init__(
        self,
        settings: HostSettings,
        *,
        cache: ExportCache | None = None,
        on_state: Callable[[WorkerState], None] | None = None,
    ) -> None:
        self.settings = settings
        self._cache = cache
        self._on_state = on_state
        self._state: WorkerState = "stopped"
        self._lock = asyncio.Lock()
        self._connection: _Connection | None = None
        self._starting: asyncio.Task[_Connection | ExportResult] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._stopped = False
        # Set while no export waits for the worker: a verify (slower) lets them go first.
        self._no_export_waiting = asyncio.Event()
        self._no_export_waiting.set()
        self._exports_waiting = 0
        # Requests (exports and verifies) sent to a worker, over all restarts; cache hits
        # send none.
        self.round_trips = 0
        # The current worker's own count of the requests it answered.
        self.requests_served = 0
        self.restarts = 0

    @property
    def state(self) -> WorkerState:
        return self._state

    @property
    def host_label(self) -> str:
        return self.settings.host_label

    @property
    def info(self) -> WorkerInfo | None:
        """What the running worker reported at startup (versions, device, pid)."""
        return self._connection.info if self._connection is not None else None

    async def start(self) -> ExportResult | None:
        """Start the worker if it is not running; the failure, if it could not start."""
        async with self._lock:
            outcome = await self._ready()
        return outcome if isinstance(outcome, ExportResult) else None

    async def export(self, request: ExportRequest) -> ExportResult:
        self._exports_waiting += 1
        self._no_export_waiting.clear()
        try:
            await self._lock.acquire()
        finally:
            self._exports_waiting -= 1
            if not self._exports_waiting:
                self._no_export_waiting.set()
        try:
            ready = await self._ready()
            if isinstance(ready, ExportResult):
                return ready
            assert ready.info is not None
            key = ExportCache.key(request, ready.info.versions())
            if self._cache is not None:
                hit = self._cache.get(key, dict(request.unsaved))
                if hit is not None:
                    return replace(hit, cached=True, host=self.host_label)
            self._set_state("exporting")
            result = await self._round_trip(ready, request)
            if self._cache is not None:
                self._cache.put(key, result)
            return result
        finally:
            self._lock.release()

    async def verify(self, request: VerifyRequest) -> VerifyReport:
        """Verify one kernel (answered from the cache when its inputs were verified before).

        Exports that wait for the worker go first: diagnostics never wait behind a verify
        that has not started.
        """
        while True:
            await self._no_export_waiting.wait()
            await self._lock.acquire()
            if self._no_export_waiting.is_set():
                break
            self._lock.release()
        try:
            ready = await self._ready()
            if isinstance(ready, ExportResult):
                return verify_failure(ready)
            assert ready.info is not None
            key = ExportCache.key(request.export, ready.info.versions(), request.options())
            if self._cache is not None:
                hit = self._cache.get_verify(key, dict(request.export.unsaved))
                if hit is not None:
                    return replace(hit, cached=True, host=self.host_label)
            self._set_state("exporting")
            export = self._remote_request(request.export)
            sent = await self._send(
                ready, VERIFY, replace(request, export=export).to_wire(), request.export.kernel
            )
            if isinstance(sent, ExportResult):
                return verify_failure(sent)
            reply, round_trip = sent
            report = VerifyReport.from_wire(reply.get("result") or {})
            report = replace(
                report,
                host=self.host_label,
                timings={**report.timings, "round_trip": round_trip},
                diagnostics=self._localized(report.diagnostics),
                dependencies=self._localized_dependencies(report.dependencies),
            )
            if self._cache is not None:
                self._cache.put(key, report)
            return report
        finally:
            self._lock.release()

    async def restart(self) -> None:
        async with self._lock:
            await self._discard(kill=True)
            self.restarts += 1
            await self._ready()

    async def stop(self) -> None:
        """Stop the worker; an export in flight is answered with a worker-failure."""
        self._stopped = True
        if self._starting is not None:
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starting
            self._starting = None
        await self._discard(kill=False)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        self._set_state("stopped")

    async def __aenter__(self) -> WorkerClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _ready(self) -> _Connection | ExportResult:
        """The running worker, else a fresh start's outcome (joining one in progress)."""
        if self._connection is not None and self._connection.alive:
            return self._connection
        self._stopped = False
        if self._starting is None or self._starting.done():
            self._starting = asyncio.create_task(self._start())
        # Shielded: a cancelled export must not leave a half-started worker behind.
        return await asyncio.shield(self._starting)

    async def _start(self) -> _Connection | ExportResult:
        self._set_state("starting")
        connection = _Connection(self.settings)
        try:
            outcome = await self._open(connection)
        except BaseException:
            await connection.close(kill=True)
            raise
        if isinstance(outcome, ExportResult):
            await connection.close(kill=True)
            self._set_state("failed")
            return outcome
        self._connection = connection
        self.requests_served = 0
        self._watch(connection)
        self._set_state("idle")
        return connection

    async def _open(self, connection: _Connection) -> ExportResult | None:
        label = self.host_label
        try:
            await connection.open()
        except (OSError, ValueError) as exc:
            code = TRANSPORT if self.settings.ssh_host else WORKER_FAILURE
            what = "ssh" if self.settings.ssh_host else self.settings.python
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return failure(f"cannot start the exporter worker ({what}): {reason}", code, host=label)
        try:
            hello = await asyncio.wait_for(
                connection.request(HELLO, None), self.settings.start_timeout_s
            )
        except asyncio.TimeoutError:
            return failure(
                f"the exporter worker on '{label}' did not start within "
                f"{self.settings.start_timeout_s:g}s",
                WORKER_FAILURE,
                host=label,
            )
        except (_WorkerGone, JsonRpcException):
            message, code = await connection.exit_reason()
            return failure(message, code, host=label)
        info = WorkerInfo.from_wire(hello)
        if info.protocol != PROTOCOL_VERSION:
            return failure(
                f"the exporter worker on '{label}' runs helion2json {info.helion2json} "
                f"(worker protocol {info.protocol}); this client needs protocol "
                f"{PROTOCOL_VERSION}: install the same helion2json version on both sides",
                WORKER_FAILURE,
                host=label,
            )
        connection.info = info
        return None

    def _watch(self, connection: _Connection) -> None:
        """Restart a worker that dies while idle, so that the next request finds one ready."""

        async def watch() -> None:
            await connection.rpc.exited.wait()
            if connection is self._connection and not connection.closing and not self._stopped:
                self._connection = None
                self.restarts += 1
                self._restart_soon()

        self._spawn(watch())

    def _remote_request(self, request: ExportRequest) -> ExportRequest:
        """The request with the GPU host's paths."""
        to_remote = self.settings.to_remote
        return replace(
            request,
            path=to_remote(request.path),
            unsaved=tuple((to_remote(file), text) for file, text in request.unsaved),
        )

    async def _round_trip(self, connection: _Connection, request: ExportRequest) -> ExportResult:
        wire = self._remote_request(request).to_wire()
        sent = await self._send(connection, EXPORT, wire, request.kernel)
        if isinstance(sent, ExportResult):
            return sent
        reply, round_trip = sent
        return self._result(reply, round_trip)

    async def _send(
        self, connection: _Connection, method: str, wire: dict[str, Any], kernel: str
    ) -> tuple[Mapping[str, Any], float] | ExportResult:
        """The worker's reply and the round trip's seconds, or why there is none."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        doing = "exporting" if method == EXPORT else "verifying"
        answer = connection.request(method, wire)
        self.round_trips += 1
        timer = loop.call_later(self.settings.timeout_s, self._expire, connection, answer)
        answer.add_done_callback(lambda _: timer.cancel())
        answer.add_done_callback(lambda _: self._idle_unless_locked())
        # Shielded: a cancelled export leaves the request running; its answer is dropped.
        result: tuple[Mapping[str, Any], float] | ExportResult
        try:
            reply = await asyncio.shield(answer)
        except _Expired:
            result = failure(
                f"{doing} {kernel!r} took longer than {self.settings.timeout_s:g}s; "
                "the worker was stopped and is restarting",
                TIMEOUT,
                host=self.host_label,
            )
        except _WorkerGone:
            message, code = await connection.exit_reason()
            result = failure(f"{message} (restarting)", code, host=self.host_label)
        except JsonRpcException as exc:
            result = failure(
                f"the exporter worker refused the request: {exc}",
                WORKER_FAILURE,
                host=self.host_label,
            )
        else:
            result = (reply, loop.time() - started)
            self._recycle_if_worn(connection, reply)
        if self._state == "exporting":
            self._set_state("idle")
        return result

    def _result(self, reply: Mapping[str, Any], round_trip: float) -> ExportResult:
        result = ExportResult.from_wire(reply.get("result") or {})
        return replace(
            result,
            host=self.host_label,
            timings={**result.timings, "round_trip": round_trip},
            diagnostics=self._localized(result.diagnostics),
            dependencies=self._localized_dependencies(result.dependencies),
        )

    def _localized(self, diagnostics: tuple[ExportDiagnostic, ...]) -> tuple[ExportDiagnostic, ...]:
        """The worker's paths of the diagnostics' files as local paths."""
        to_local = self.settings.to_local
        return tuple(
            replace(
                item,
                file=None if item.file is None else to_local(item.file),
                related=None
                if item.related is None
                else replace(item.related, file=to_local(item.related.file)),
            )
            for item in diagnostics
        )

    def _localized_dependencies(
        self, dependencies: tuple[Dependency, ...]
    ) -> tuple[Dependency, ...]:
        to_local = self.settings.to_local
        return tuple(Dependency(to_local(item.file), item.sha256) for item in dependencies)

    def _recycle_if_worn(self, connection: _Connection, reply: Mapping[str, Any]) -> None:
        """Replace a worker that answered max_requests or outgrew max_rss_mb."""
        worker = reply.get("worker") or {}
        self.requests_served = int(worker.get("requests", self.requests_served))
        rss_mb = float(worker.get("rss_mb", 0.0))
        if self.requests_served < self.settings.max_requests and rss_mb <= self.settings.max_rss_mb:
            return
        logger.info(
            "recycling the worker after %d requests at %.0f MiB", self.requests_served, rss_mb
        )
        self._retire(connection, kill=False)

    def _expire(self, connection: _Connection, answer: asyncio.Future[Any]) -> None:
        if not answer.done():
            answer.set_exception(_Expired())
            self._retire(connection, kill=True)

    def _retire(self, connection: _Connection, *, kill: bool) -> None:
        """Stop a worker in the background and start its successor."""
        connection.closing = True
        if connection is self._connection:
            self._connection = None
        self.restarts += 1
        self._spawn(connection.close(kill=kill))
        self._restart_soon()

    def _restart_soon(self) -> None:
        if self._stopped:
            return
        if self._starting is None or self._starting.done():
            self._starting = asyncio.create_task(self._start())

    async def _discard(self, *, kill: bool) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close(kill=kill)

    def _idle_unless_locked(self) -> None:
        # An answer arriving after its export() was cancelled frees the worker.
        if not self._lock.locked() and self._state == "exporting":
            self._set_state("idle")

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _set_state(self, state: WorkerState) -> None:
        if state == self._state:
            return
        self._state = state
        if self._on_state is not None:
            try:
                self._on_state(state)
            except Exception:
                logger.exception("worker state callback failed")


class WorkerPool:
    """``size`` workers with :class:`WorkerClient`'s ``export`` and ``verify`` API, for
    ``--jobs N``."""

    def __init__(
        self,
        settings: HostSettings,
        size: int,
        *,
        cache: ExportCache | None = None,
        on_state: Callable[[WorkerState], None] | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.clients: list[WorkerClient] = [
            WorkerClient(settings, cache=cache, on_state=on_state) for _ in range(size)
        ]
        self._idle: asyncio.Queue[WorkerClient] | None = None

    @property
    def host_label(self) -> str:
        return self.clients[0].host_label

    async def start(self) -> list[ExportResult]:
        """Start every worker at once; the failures. Workers that failed leave the pool
        (while any started), so that exports do not wait on retries of a broken one."""
        outcomes = await asyncio.gather(*(client.start() for client in self.clients))
        failures = [outcome for outcome in outcomes if outcome is not None]
        started = [
            client
            for client, outcome in zip(self.clients, outcomes, strict=True)
            if outcome is None
        ]
        if started and failures:
            for client in self.clients:
                if client not in started:
                    await client.stop()
            self.clients = started
            self._idle = None
        return failures

    async def export(self, request: ExportRequest) -> ExportResult:
        idle = self._queue()
        client = await idle.get()
        try:
            return await client.export(request)
        finally:
            idle.put_nowait(client)

    async def verify(self, request: VerifyRequest) -> VerifyReport:
        idle = self._queue()
        client = await idle.get()
        try:
            return await client.verify(request)
        finally:
            idle.put_nowait(client)

    async def restart(self) -> None:
        await asyncio.gather(*(client.restart() for client in self.clients))

    async def stop(self) -> None:
        await asyncio.gather(*(client.stop() for client in self.clients))

    @property
    def round_trips(self) -> int:
        return sum(client.round_trips for client in self.clients)

    def _queue(self) -> asyncio.Queue[WorkerClient]:
        if self._idle is None:
            self._idle = asyncio.Queue()
            for client in self.clients:
                self._idle.put_nowait(client)
        return self._idle

    async def __aenter__(self) -> WorkerPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
