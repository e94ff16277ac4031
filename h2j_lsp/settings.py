"""The ``h2j`` configuration section and the initialization options.

Values come in layers: built-in defaults, then ``initializationOptions.settings`` (for editors
that cannot answer ``workspace/configuration``), then each workspace folder's own section.
A value of the wrong type is reported and ignored rather than failing the whole section, so
one typo in a settings file does not switch the server off.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from h2j_lsp.worker_client import HostSettings

Trigger = Literal["change", "save"]


@dataclass(frozen=True)
class Settings:
    """One workspace folder's settings (the ``h2j`` section, in Python names)."""

    worker_python: str | None = None
    remote_host: str | None = None
    remote_python: str = "python3"
    remote_root: str | None = None
    ssh_args: tuple[str, ...] = ()
    trigger: Trigger = "change"
    debounce_ms: int = 400
    timeout_seconds: float = 60.0
    out_dir: str = "helion-json"

    def merged(self, raw: object) -> tuple[Settings, list[str]]:
        """These settings overridden by a raw ``h2j`` section; also returns what was ignored."""
        if raw is None:
            return self, []
        if not isinstance(raw, Mapping):
            return self, [f"the h2j settings must be an object, not {type(raw).__name__}"]
        changes: dict[str, Any] = {}
        problems: list[str] = []
        for key, value in raw.items():
            field = _FIELDS.get(key)
            if field is None:
                # The editor's section also holds its own settings (the interpreter to start
                # the server with, tracing).
                continue
            parsed = _parse(field, value)
            if isinstance(parsed, _Invalid):
                problems.append(f"h2j.{key}: {parsed.reason}; keeping {getattr(self, field)!r}")
            else:
                changes[field] = parsed
        return dataclasses.replace(self, **changes), problems

    def host(self, folder_path: str | None) -> HostSettings:
        """The worker settings these imply; equal values share one worker."""
        remote = self.remote_host is not None
        return HostSettings(
            python=self.worker_python or sys.executable,
            ssh_host=self.remote_host,
            remote_python=self.remote_python,
            remote_root=self.remote_root if remote else None,
            # A local worker runs in the folder, so that exported locations are relative to it,
            # as when the headless export runs from the folder's root; a remote one maps paths
            # under it to ``remote_root``. So each folder that exports has a worker of its own.
            local_root=folder_path,
            ssh_args=self.ssh_args,
            timeout_s=self.timeout_seconds,
        )

    def out_path(self, folder_path: str) -> str:
        return os.path.normpath(os.path.join(folder_path, self.out_dir))


@dataclass(frozen=True)
class InitOptions:
    trusted: bool
    settings: Settings
    problems: tuple[str, ...]

    @classmethod
    def parse(cls, raw: object) -> InitOptions:
        if not isinstance(raw, Mapping):
            return cls(True, Settings(), ())
        trusted = raw.get("trusted", True)
        settings, problems = Settings().merged(raw.get("settings"))
        if not isinstance(trusted, bool):
            # Failing closed: a client that meant to say "untrusted" must not run user code.
            problems.append("initializationOptions.trusted must be a boolean; treating as false")
            trusted = False
        return cls(trusted, settings, tuple(problems))


# The configuration keys, as the editor spells them.
_FIELDS = {
    "workerPython": "worker_python",
    "remoteHost": "remote_host",
    "remotePython": "remote_python",
    "remoteRoot": "remote_root",
    "sshArgs": "ssh_args",
    "trigger": "trigger",
    "debounceMs": "debounce_ms",
    "timeoutSeconds": "timeout_seconds",
    "outDir": "out_dir",
}


@dataclass(frozen=True)
class _Invalid:
    reason: str


def _parse(field: str, value: object) -> object:
    if field in ("worker_python", "remote_host", "remote_root"):
        if value is None or value == "":
            return None
        return value if isinstance(value, str) else _Invalid("expected a string or null")
    if field in ("remote_python", "out_dir"):
        if isinstance(value, str) and value.strip():
            return value
        return _Invalid("expected a non-empty string")
    if field == "ssh_args":
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return tuple(value)
        return _Invalid("expected a list of strings")
    if field == "trigger":
        return value if value in ("change", "save") else _Invalid("expected 'change' or 'save'")
    if field == "debounce_ms":
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        return _Invalid("expected a non-negative integer")
    # timeout_seconds
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return _Invalid("expected a positive number")
