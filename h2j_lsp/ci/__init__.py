"""``h2j-lsp --export PATH...``: export every annotated kernel under the paths, headless (CI).

It finds kernels and their ``# h2j:`` directives with the language server's own static
detection, exports every ``args(...)`` example through a pool of exporter workers (local, or
on a GPU host over SSH), validates each document, writes it atomically to
``<out-dir>/<module>.<kernel>[.<n>].helion.json`` and reports problems as text, JSON, GitHub
annotations or SARIF; with ``--verify`` it also runs each document in the reference
interpreter and compares it with the kernel. Exit status: 0 when everything exported (and
verified), 1 when a kernel, directive or verify failed, 2 for usage errors and when no
exporter worker could be reached.

``model`` says what a run is, ``plan`` finds files, kernels and jobs, ``run`` drives the
workers and the goldens, ``formats`` prints, ``main`` is the command line. The names below
are the tool's API for scripts and tests.
"""

from h2j_lsp.ci.formats import github_line, json_output, sarif_output, text_line
from h2j_lsp.ci.main import main
from h2j_lsp.ci.model import Report
from h2j_lsp.ci.plan import display_path, find_sources, plan_exports
from h2j_lsp.outputs import output_name, output_path, write_document

__all__ = [
    "Report",
    "display_path",
    "find_sources",
    "github_line",
    "json_output",
    "main",
    "output_name",
    "output_path",
    "plan_exports",
    "sarif_output",
    "text_line",
    "write_document",
]
