"""What the editor and ``h2j-lsp --export`` share about an export: where a document goes
and how it is written.

Both write the same files the same way: ``<out-dir>/<module>.<kernel>[.<n>].helion.json``,
validated again on this side, written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from h2j_lsp.protocol import ExportDiagnostic

OUTPUT_SUFFIX = ".helion.json"


def output_name(module: str, kernel: str, index: int, count: int) -> str:
    """``<module>.<kernel>[.<n>].helion.json``: ``.<n>`` (0-based) only for several examples.

    Raises ``ValueError`` for a name that is not one plain file name.
    """
    name = f"{module}.{kernel}{f'.{index}' if count > 1 else ''}{OUTPUT_SUFFIX}"
    separators = {os.sep, os.altsep or os.sep, "\0"}
    if any(separator in name for separator in separators) or name in {".", ".."}:
        raise ValueError(f"refusing to write {name!r}: not a plain file name")
    return name


def output_path(out_dir: Path, name: str) -> Path:
    """``out_dir / name``, refusing anything that would land outside ``out_dir``."""
    target = out_dir / name
    if os.path.dirname(os.path.abspath(target)) != os.path.abspath(out_dir):
        raise ValueError(f"refusing to write {target}: outside {out_dir}")
    return target


def write_document(output: Path, document: dict[str, Any]) -> ExportDiagnostic | None:
    from helion2json.core.errors import ValidationError
    from helion2json.core.export import to_json_text, write_atomically
    from helion2json.core.schema import validate_spec

    try:
        # Again here: the worker may run another helion2json version than this client.
        validate_spec(document)
        write_atomically(output, to_json_text(document))
    except ValidationError as exc:
        return ExportDiagnostic(f"invalid document: {exc.message}", exc.code)
    except OSError as exc:
        return ExportDiagnostic(f"cannot write {output}: {exc.strerror or exc}", "write-error")
    return None
