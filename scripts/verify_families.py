"""Verify every family kernel's JSON and print one line per family.

    python scripts/verify_families.py [--family NAME]...

Each line gives the status, the reference that ran (the compiled kernel on a
machine with CUDA; elsewhere the first CPU reference that runs, docs/verify.md)
and the worst output error against its tolerance. Known compiled-kernel bugs
(``KNOWN_COMPILED_BUGS``) are marked. The last line counts the families that
passed; the exit status is 1 when any did not.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Before helion imports triton: on a machine without CUDA the Triton interpreter runs.
from helion2json.core.triton_cpu import enable_interpreter_if_no_gpu

enable_interpreter_if_no_gpu()

import torch  # noqa: E402

from helion2json.core.errors import one_line  # noqa: E402
from helion2json.core.verify import VerifyResult, verify_kernel  # noqa: E402
from helion2json.tests.kernels import FAMILIES  # noqa: E402
from helion2json.tests.test_verify import KNOWN_COMPILED_BUGS  # noqa: E402


def describe(result: VerifyResult) -> str:
    worst = max(result.outputs, key=lambda c: c.max_abs_error - c.atol, default=None)
    error = (
        f"max abs {worst.max_abs_error:.3g} (atol {worst.atol:.3g}, {worst.dtype}, {worst.label})"
        if worst is not None
        else one_line(result.error or "", width=160)
    )
    # Why each preferred reference did not run (a compiled kernel that failed, say).
    skipped = "".join(f"; {s.name} skipped: {s.reason}" for s in result.skipped_references)
    return f"{result.status:<12} {result.reference_name or '-':<36} {error}{skipped}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", action="append", help="only these families (repeatable)")
    options = parser.parse_args(argv)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA device"
    print(
        f"{device}; torch {torch.__version__}, helion {version('helion')}, "
        f"triton {version('triton')}"
    )
    selected = [f for f in FAMILIES if not options.family or f.name in options.family]
    passed = 0
    for family in selected:
        torch.manual_seed(0)
        try:
            result = verify_kernel(family.kernel, family.make_args(), reference=family.reference)
            line = describe(result)
            passed += result.ok
        except Exception as exc:  # an export failure is a line of the report, not the end
            line = f"{'error':<12} {'-':<36} {one_line(exc, width=160)}"
        known = KNOWN_COMPILED_BUGS.get(family.name)
        print(f"{family.name:<32} {line}{f'  [known: {known}]' if known else ''}", flush=True)
    print(f"verified {passed}/{len(selected)}")
    return 0 if passed == len(selected) else 1


if __name__ == "__main__":
    raise SystemExit(main())
