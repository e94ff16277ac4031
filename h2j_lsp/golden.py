"""Readable structural differences between two exported documents.

``h2j-lsp --export --check`` compares fresh exports with the JSON files
already in the out-dir (committed goldens) and prints what changed in terms a
reviewer knows: which kernel, which op (by position, name and source line),
which field. Source locations are not part of the contract, so an edit that
only moves lines is no difference.
"""

from __future__ import annotations

import difflib
import errno
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from h2j_lsp.outputs import output_name, output_path


@dataclass(frozen=True)
class Difference:
    """One change, located as precisely as the documents allow."""

    path: str  # e.g. "matmul.body[4].attrs.beta"
    message: str  # e.g. "1.0 → 2.0"
    line: int | None = None  # the source line of the op in the fresh export

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line is not None else ""
        return f"{self.path}{where}: {self.message}"


class CorruptGolden(ValueError):
    """A committed export that is there but cannot be read or is not JSON (a rewrite, the
    command line's ``--update`` or the editor's update action, repairs it)."""


def read_golden(path: Path) -> Any:
    """The committed document at ``path``; ``None`` when there is none.

    Raises :class:`CorruptGolden` with the reason for a file that is there but unreadable:
    not JSON, not a regular file, too large.
    """
    # Imported on first use: helion2json pulls in pydantic, which the server needs late.
    from helion2json.sources import UnreadableSource, read_regular_file

    try:
        data = read_regular_file(path)
    except UnreadableSource as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise CorruptGolden(exc.reason) from None
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise CorruptGolden(f"not JSON: {exc}") from None


def compare_with_golden(path: Path, document: Any) -> list[Difference] | None:
    """How a fresh export differs from the committed one; ``None`` when there is none.

    Raises :class:`CorruptGolden` when the committed one cannot be read.
    """
    from helion2json.core.environment import comparable

    golden = read_golden(path)
    # Where the two were made (device, triton) matters only for a default config.
    return None if golden is None else structural_diff(*comparable(golden, document))


@dataclass(frozen=True)
class StaleGolden:
    """A committed export that one example's fresh export no longer matches."""

    example: int
    golden: str  # the file, relative to the workspace folder
    differences: tuple[Difference, ...]
    # Why the committed file cannot be compared at all (then there are no differences).
    corrupt: str | None = None


def stale_goldens(
    out_dir: Path, folder: str, module: str, kernel: str, documents: Sequence[Any]
) -> tuple[StaleGolden, ...]:
    """The examples (``documents``: each one's fresh export, ``None`` where it failed) whose
    committed file in ``out_dir`` differs or is corrupt; no file is nothing stale."""
    stale: list[StaleGolden] = []
    for index, document in enumerate(documents):
        if document is None:
            continue
        try:
            path = output_path(out_dir, output_name(module, kernel, index, len(documents)))
        except ValueError:
            continue
        relative = os.path.relpath(path, folder)
        try:
            differences = compare_with_golden(path, document)
        except CorruptGolden as exc:
            stale.append(StaleGolden(index, relative, (), corrupt=str(exc)))
            continue
        if differences:
            stale.append(StaleGolden(index, relative, tuple(differences)))
    return tuple(stale)


def without_locations(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_locations(v) for k, v in value.items() if k != "loc"}
    if isinstance(value, list):
        return [without_locations(v) for v in value]
    return value


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _line(op: Any) -> int | None:
    loc = op.get("loc") if isinstance(op, dict) else None
    line = loc.get("line") if isinstance(loc, dict) else None
    return line if isinstance(line, int) else None


def _describe(op: Any) -> str:
    if not isinstance(op, dict):
        return _short(op)
    result = op.get("result")
    named = f" → {_short(result, 30)}" if result is not None else ""
    return f"{op.get('op', '?')}{named}"


def _field_differences(path: str, old: Any, new: Any) -> Iterator[tuple[str, str]]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old.keys(), *(k for k in new if k not in old)]:
            if key == "loc":
                continue
            if key not in new:
                yield f"{path}.{key}", f"removed (was {_short(old[key])})"
            elif key not in old:
                yield f"{path}.{key}", f"added: {_short(new[key])}"
            else:
                yield from _field_differences(f"{path}.{key}", old[key], new[key])
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from _field_differences(f"{path}[{index}]", a, b)
    elif old != new or type(old) is not type(new):
        yield path, f"{_short(old)} → {_short(new)}"


def _body_differences(name: str, old: Sequence[Any], new: Sequence[Any]) -> Iterator[Difference]:
    # Ops align by kind and result, so an inserted op shows as one insertion
    # rather than as every later op changing.
    def key(op: Any) -> str:
        if not isinstance(op, dict):
            return _short(op)
        return json.dumps([op.get("op"), op.get("result")], sort_keys=True)

    matcher = difflib.SequenceMatcher(a=[key(o) for o in old], b=[key(o) for o in new])
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                for path, message in _field_differences(f"{name}.body[{j}]", old[i], new[j]):
                    yield Difference(path, f"{_describe(new[j])}: {message}", _line(new[j]))
            continue
        for i in range(i1, i2):
            yield Difference(f"{name}.body[{i}]", f"op removed: {_describe(old[i])}", None)
        for j in range(j1, j2):
            yield Difference(f"{name}.body[{j}]", f"op added: {_describe(new[j])}", _line(new[j]))


def structural_diff(old: Any, new: Any) -> list[Difference]:
    """Every difference between a golden document and a fresh export, loc ignored."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return [Difference("document", "not a JSON object")]
    differences: list[Difference] = []
    for key in ("version",):
        if old.get(key) != new.get(key):
            differences.append(Difference(key, f"{_short(old.get(key))} → {_short(new.get(key))}"))
    old_module, new_module = old.get("module") or {}, new.get("module") or {}
    if old_module.get("name") != new_module.get("name"):
        message = f"{_short(old_module.get('name'))} → {_short(new_module.get('name'))}"
        differences.append(Difference("module.name", message))
    old_funcs = {f.get("name"): f for f in old_module.get("funcs") or [] if isinstance(f, dict)}
    new_funcs = {f.get("name"): f for f in new_module.get("funcs") or [] if isinstance(f, dict)}
    for name in [*old_funcs, *(n for n in new_funcs if n not in old_funcs)]:
        if name not in new_funcs:
            differences.append(Difference(str(name), "kernel removed"))
            continue
        if name not in old_funcs:
            differences.append(Difference(str(name), "kernel added"))
            continue
        before, after = old_funcs[name], new_funcs[name]
        for key in [*before, *(k for k in after if k not in before)]:
            if key in ("name", "body"):
                continue
            for path, message in _field_differences(
                f"{name}.{key}", before.get(key), after.get(key)
            ):
                differences.append(Difference(path, message))
        differences.extend(
            _body_differences(str(name), before.get("body") or [], after.get("body") or [])
        )
    return differences
