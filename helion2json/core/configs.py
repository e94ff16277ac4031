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

    def as_json(self) -> dict[str, Any]:
        described = self.source if self.detail is None else f"{self.source} ({self.detail})"
        values = json.loads(json.dumps(dict(self.config.config), sort_keys=True, default=str))
        return {"source": described, "values": values}


def _normalize(bound: Any, config: Any, origin: str, where: SourceLocation | None) -> Any:
    try:
        return bound.config_spec.normalized_config(config)
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
        return ConfigChoice(
            _normalize(bound, config, origin, directive_location), "directive", detail
        )
    own = list(getattr(bound.kernel, "configs", None) or [])
    if len(own) == 1:
        return ConfigChoice(_normalize(bound, own[0], "the kernel's config", None), "kernel")
    if config_file is not None:
        config = config_from_file(config_file)
        origin = f"config file {config_file}"
        return ConfigChoice(_normalize(bound, config, origin, None), "file", str(config_file))
    return ConfigChoice(bound.config_spec.default_config(), "default")
