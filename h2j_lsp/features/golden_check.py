"""Committed exports ("goldens") that a kernel's fresh export no longer matches.

When ``<outDir>/<module>.<kernel>[.<n>].helion.json`` exists and differs from
what the kernel exports now, the kernel gets an information diagnostic with the
structural difference (the same one ``h2j-lsp --export --check`` prints), and a
code action that rewrites the file with the fresh export. A committed file that cannot be
read or is not JSON gets the same, saying it is corrupt. The comparison is made
once, when the export arrives (:class:`~h2j_lsp.session.KernelResults` keeps it),
not on every keystroke.
"""

from __future__ import annotations

from collections.abc import Sequence

from h2j_lsp.features.commands import EXPORT_KERNEL
from h2j_lsp.features.model import SOURCE, ClientDiagnostic, Command, Problem
from h2j_lsp.golden import StaleGolden
from h2j_lsp.session import Document

GOLDEN_DIFF = "golden-diff"
GOLDEN_CORRUPT = "golden-corrupt"
_SHOWN = 3


def golden_problems(document: Document) -> list[Problem]:
    items: list[Problem] = []
    for name, results in document.results.items():
        kernel = document.kernel(name)
        if kernel is None:
            continue
        for stale in results.stale:
            items.append(
                Problem(
                    kernel.name_span,
                    GOLDEN_DIFF if stale.corrupt is None else GOLDEN_CORRUPT,
                    _message(stale),
                    severity="information",
                    kernel=name,
                    example=stale.example,
                )
            )
    return items


def _message(stale: StaleGolden) -> str:
    if stale.corrupt is not None:
        return f"the committed export {stale.golden} is corrupt ({stale.corrupt})"
    shown = "; ".join(str(d) for d in stale.differences[:_SHOWN])
    more = len(stale.differences) - _SHOWN
    return f"the export differs from {stale.golden}: {shown}" + (
        f" (and {more} more)" if more > 0 else ""
    )


def golden_actions(document: Document, diagnostics: Sequence[ClientDiagnostic]) -> list[Command]:
    """Rewrite a stale golden with the fresh export (the export command writes it)."""
    wanted = {
        (d.data["kernel"], d.data["example"])
        for d in diagnostics
        if d.code in (GOLDEN_DIFF, GOLDEN_CORRUPT)
        and d.source == SOURCE
        and isinstance(d.data, dict)
    }
    return [
        Command(
            f"Update {stale.golden} with this export of `{name}`",
            EXPORT_KERNEL,
            [document.uri, name, stale.example],
        )
        for name, results in document.results.items()
        for stale in results.stale
        if (name, stale.example) in wanted
    ]
