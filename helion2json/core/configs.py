"""Which Helion config a kernel is exported with, and where it came from.

Block sizes, loop orders and reduction strategies in the JSON come from a
config. The one chosen is, in this order: a ``# h2j: config(...)`` directive,
the kernel's own fixed config (``config=`` or a single ``configs=`` entry), a
saved-config JSON file (``--config PATH``), and Helion's default config.
Autotuning is never used to find one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helion2json.core.errors import ArgumentError, SourceLocation

SOURCES = ("directive", "kernel", "file", "default")


@dataclass(frozen=True)
class ConfigChoice:
    """A config and its origin, as reported in the document's ``funcs[].config``."""

    config: Any  # helion.Config, normalized for the bound kernel
    source: str  # one of SOURCES
    detail: str | None = None  # the directive's line or the file's path
    # Loop code-generation values this machine's Helion has no slot for (see _normalize).
    not_applied: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        described = self.source if self.detail is None else f"{self.source} ({self.detail})"
        values = json.loads(json.dumps(dict(self.config.config), sort_keys=True, default=str))
        found: dict[str, Any] = {"source": described, "values": values}
        if self.not_applied:
            found["not_applied"] = json.loads(json.dumps(self.not_applied, default=str))
        return found


def _is_loop_codegen_key(key: str) -> bool:
    # How Triton emits a loop (stages, unrolling, warp specialisation), never what it computes.
    return key.startswith("range_") or key == "static_ranges"


def _normalize(
    bound: Any, config: Any, origin: str, where: SourceLocation | None
) -> tuple[Any, dict[str, Any]]:
    """``config`` normalized for ``bound``, and the loop code-generation values left out.

    A config written for another machine may hold loop code-generation values this
    machine's Helion has no slot for (``range_warp_specializes`` exists on Blackwell
    GPUs only): they change how loops are emitted, not what they compute, so the export
    goes on without them and records them.
    """
    import helion

    values = dict(config.config if isinstance(config, helion.Config) else config)
    here = bound.config_spec.default_config().config
    not_applied = {
        key: value
        for key, value in values.items()
        if _is_loop_codegen_key(key) and (key not in here or here[key] == []) and value
    }
    kept = {key: value for key, value in values.items() if key not in not_applied}
    try:
        return bound.config_spec.normalized_config(helion.Config(**kept)), not_applied
    except Exception as exc:
        raise ArgumentError(
            f"{origin} does not fit the kernel: {type(exc).__name__}: {exc}".splitlines()[0],
            location=where,
        ) from None


def config_from_directive(text: str, namespace: Mapping[str, Any]) -> Any:
    """``block_sizes=[32, 32], num_warps=4`` → ``helion.Config(...)``."""
    import helion

    from helion2json.core.example_args import evaluate_call_arguments

    example = evaluate_call_arguments(text, namespace, filename="<config>")
    if example.args:
        raise ArgumentError("config(...) takes keyword arguments of helion.Config only")
    return helion.Config(**example.kwargs)


def config_from_file(path: str | os.PathLike[str]) -> Any:
    import helion

    try:
        values = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ArgumentError(f"cannot read config file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ArgumentError(f"config file {path} is not JSON: {exc}") from None
    if not isinstance(values, dict):
        raise ArgumentError(f"config file {path} must hold a JSON object of config values")
    return helion.Config(**values)


def choose_config(
    bound: Any,
    *,
    directive: Any | None = None,
    directive_location: SourceLocation | None = None,
    config_file: str | os.PathLike[str] | None = None,
) -> ConfigChoice:
    """The config to export ``bound`` with, normalized, by the documented precedence.

    ``directive`` is a ``helion.Config`` (or a mapping of its values) written in
    a ``# h2j: config(...)`` directive or passed to the API.
    """
    import helion

    if directive is not None:
        config = directive if isinstance(directive, helion.Config) else helion.Config(**directive)
        detail = f"line {directive_location.line}" if directive_location else None
        origin = "the config(...) directive" if directive_location else "the given config"
        normalized, not_applied = _normalize(bound, config, origin, directive_location)
        return ConfigChoice(normalized, "directive", detail, not_applied)
    own = list(getattr(bound.kernel, "configs", None) or [])
    if len(own) == 1:
        normalized, not_applied = _normalize(bound, own[0], "the kernel's config", None)
        return ConfigChoice(normalized, "kernel", None, not_applied)
    if config_file is not None:
        config = config_from_file(config_file)
        origin = f"config file {config_file}"
        normalized, not_applied = _normalize(bound, config, origin, None)
        return ConfigChoice(normalized, "file", str(config_file), not_applied)
    return ConfigChoice(bound.config_spec.default_config(), "default")
