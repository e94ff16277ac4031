"""A real OpenSSH server on 127.0.0.1 for tests of the remote GPU host path.

It runs ``/usr/sbin/sshd -D -e -f CONFIG`` with everything in a temporary directory: a
generated host key, a client key in its authorized_keys, and a known_hosts file holding the
host key, so that clients keep host-key checking on. The "GPU host" is this machine.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
HOST = "127.0.0.1"
_START_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class SshServer:
    host: str
    port: int
    user: str
    directory: Path
    client_key: Path
    known_hosts: Path
    process: subprocess.Popen[bytes]

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}"

    def ssh_args(self, *, key: Path | None = None, port: int | None = None) -> tuple[str, ...]:
        """Options for the ``ssh`` client: this server's port, key and known_hosts only."""
        return (
            "-F",
            os.devnull,
            "-p",
            str(port or self.port),
            "-o",
            f"IdentityFile={key or self.client_key}",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "ConnectTimeout=10",
        )

    def new_key(self, name: str) -> Path:
        """A client key that the server does not know."""
        return _keygen(self.directory / name)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def sshd_available() -> bool:
    return (
        SSHD.is_file()
        and shutil.which("ssh") is not None
        and shutil.which("ssh-keygen") is not None
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _keygen(path: Path) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "h2j-test", "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return path


def _config(directory: Path, port: int, user: str) -> str:
    return "\n".join(
        [
            f"Port {port}",
            f"ListenAddress {HOST}",
            f"HostKey {directory / 'host_key'}",
            f"PidFile {directory / 'sshd.pid'}",
            f"AuthorizedKeysFile {directory / 'authorized_keys'}",
            f"AllowUsers {user}",
            "StrictModes no",
            "UsePAM no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "PrintMotd no",
            "LogLevel ERROR",
            "",
        ]
    )


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = log.read_text(errors="replace").strip()
            raise RuntimeError(f"sshd exited with status {process.returncode}: {error}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on port {port} within {_START_TIMEOUT_S}s")


def start_sshd(directory: Path) -> SshServer:
    directory.mkdir(parents=True, exist_ok=True)
    user = getpass.getuser()
    host_key = _keygen(directory / "host_key")
    client_key = _keygen(directory / "client_key")
    (directory / "authorized_keys").write_text(Path(f"{client_key}.pub").read_text())
    port = free_port()
    known_hosts = directory / "known_hosts"
    host_public = Path(f"{host_key}.pub").read_text().split()
    known_hosts.write_text(f"[{HOST}]:{port} {host_public[0]} {host_public[1]}\n")
    config = directory / "sshd_config"
    config.write_text(_config(directory, port, user))
    if os.geteuid() == 0:
        # sshd's privilege separation needs this directory when it runs as root.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = directory / "sshd.log"
    # A file, not a pipe: nobody reads sshd's log while it runs, and a full pipe would block it.
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        _wait_listening(process, port, log)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return SshServer(HOST, port, user, directory, client_key, known_hosts, process)


@contextlib.contextmanager
def running_sshd(directory: Path) -> Iterator[SshServer]:
    server = start_sshd(directory)
    try:
        yield server
    finally:
        server.stop()
