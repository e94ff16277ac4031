"""Where a document's config was made, and what of a document depends on it.

Helion's default config depends on the machine: its block sizes (and so the
document's tile sizes and body) differ between CPU and CUDA example tensors,
and with triton importable Helion adds Triton's loop knobs (``range_*``,
``static_ranges``) to every config. A document records both beside its config
(``funcs[].config.device`` and ``funcs[].config.triton``). A committed export
is reproducible on another machine only with a fixed config (a
``# h2j: config(...)`` directive, the kernel's own, or a config file), and
comparing a golden with a fresh export made elsewhere goes by these rules:

- with a default config on either side, a different environment explains the
  difference (:func:`default_config_made_elsewhere`);
- with fixed configs, the environment alone is no difference
  (:func:`comparable`).

Importable without torch or helion: ``h2j-lsp --export --check`` uses it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# The config's source when nothing fixed it (helion2json.core.configs.SOURCES).
DEFAULT_SOURCE = "default"
ENVIRONMENT_KEYS = ("device", "triton")
# Config keys Helion has only where triton is importable.
TRITON_ONLY_PREFIXES = ("range_", "static_ranges")


def export_environment(bound: Any) -> dict[str, Any]:
    """``{"device": "cpu" | "cuda" | ..., "triton": bool}`` for a bound kernel."""
    try:
        import triton  # noqa: F401
    except ImportError:
        triton_available = False
    else:
        triton_available = True
    return {"device": str(bound.env.device.type), "triton": triton_available}


@dataclass(frozen=True)
class Environment:
    device: str
    triton: bool

    def __str__(self) -> str:
        return self.device if self.triton else f"{self.device} without triton"


@dataclass(frozen=True)
class EnvironmentChange:
    """A kernel whose golden was made in another environment, with a default config."""

    kernel: str
    golden: Environment
    fresh: Environment


def _funcs(document: Any) -> dict[str, dict[str, Any]]:
    module = document.get("module") if isinstance(document, dict) else None
    funcs = module.get("funcs") if isinstance(module, dict) else None
    if not isinstance(funcs, list):
        return {}
    return {str(f.get("name")): f for f in funcs if isinstance(f, dict)}


def _config(func: dict[str, Any]) -> dict[str, Any]:
    config = func.get("config")
    return config if isinstance(config, dict) else {}


def _environment(func: dict[str, Any]) -> Environment | None:
    config = _config(func)
    device, triton = config.get("device"), config.get("triton")
    if not isinstance(device, str) or not isinstance(triton, bool):
        return None  # made before documents recorded it
    return Environment(device, triton)


def _source(func: dict[str, Any]) -> str:
    return str(_config(func).get("source", ""))


def _pairs(golden: Any, fresh: Any) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    fresh_funcs = _funcs(fresh)
    for name, before in _funcs(golden).items():
        after = fresh_funcs.get(name)
        if after is not None:
            yield name, before, after


def default_config_made_elsewhere(golden: Any, fresh: Any) -> list[EnvironmentChange]:
    """Kernels whose golden was made in another environment with Helion's default config."""
    changes = []
    for name, before, after in _pairs(golden, fresh):
        old, new = _environment(before), _environment(after)
        if old is None or new is None or old == new:
            continue
        if DEFAULT_SOURCE in (_source(before), _source(after)):
            changes.append(EnvironmentChange(name, old, new))
    return changes


def comparable(golden: Any, fresh: Any) -> tuple[Any, Any]:
    """Copies of both documents without what the environment alone decides.

    The environment keys go everywhere (they describe where an export was
    made, not the kernel); Triton-only config keys go where exactly one side
    had triton.
    """
    golden, fresh = copy.deepcopy(golden), copy.deepcopy(fresh)
    for _name, before, after in _pairs(golden, fresh):
        old, new = _environment(before), _environment(after)
        triton_differs = old is not None and new is not None and old.triton != new.triton
        for func in (before, after):
            config = _config(func)
            for key in ENVIRONMENT_KEYS:
                config.pop(key, None)
            values = config.get("values")
            if triton_differs and isinstance(values, dict):
                for key in [k for k in values if k.startswith(TRITON_ONLY_PREFIXES)]:
                    del values[key]
    return golden, fresh
