"""What the editor and ``h2j-lsp --export`` share: the export request, and where a worker's
diagnostic goes (both place it by the same rule)."""

from __future__ import annotations

from pathlib import Path

import pytest

from h2j_lsp.ci.model import Job
from h2j_lsp.ci.run import finish_job
from h2j_lsp.discovery import Span, scan_source
from h2j_lsp.features.report import problems
from h2j_lsp.outputs import export_request
from h2j_lsp.session import Document, EditorText, KernelResults
from helion2json.worker.protocol import ExportDiagnostic, ExportResult

TEXT = """\
import helion


# h2j: config(block_sizes=[4])
#   h2j: args(torch.randn(4), undefined_name)
@helion.kernel()
def double(x, y):
    return x
"""


def test_the_request_carries_the_example_and_the_config() -> None:
    [kernel] = scan_source(TEXT).kernels
    request = export_request("/k.py", TEXT, kernel, 0, locations=False)
    assert (request.kernel, request.args_text, request.example_index) == (
        "double",
        "torch.randn(4), undefined_name",
        0,
    )
    assert (request.config_text, request.config_line) == ("block_sizes=[4]", 4)
    assert request.locations is False and request.path == "/k.py" and request.text == TEXT


@pytest.mark.parametrize(
    "diagnostic",
    [
        ExportDiagnostic("undefined_name is not defined", "bad-arguments", args_col=16),
        ExportDiagnostic("the arguments do not fit", "bad-arguments"),
        ExportDiagnostic("no line, from the arguments", "unsupported"),
        ExportDiagnostic("the worker died", "worker-failure"),
        ExportDiagnostic("bind failed", "bind-error", line=8, col=11),
    ],
)
def test_editor_and_ci_place_a_diagnostic_on_the_same_spot(diagnostic: ExportDiagnostic) -> None:
    [kernel] = scan_source(TEXT).kernels
    result = ExportResult(False, None, (diagnostic,), {})

    job = Job(Path("k.py"), "k.py", TEXT, kernel, kernel.examples[0], 0, Path("out.json"))
    [report] = finish_job(job, result).reports

    document = Document("file:///k.py", "/k.py", lambda: EditorText(TEXT, 1), scan_source(TEXT))
    document.results[kernel.name] = KernelResults(kernel.first_decorator_line, (result,))
    [problem] = problems(document, kernel)

    assert report.line is not None
    assert (report.line - 1, report.col) == (problem.span.start_line, problem.span.start_col)
    if diagnostic.line is None and diagnostic.code != "worker-failure":
        # From the arguments: on the args directive's line, in the editor as in CI.
        assert problem.span.start_line == kernel.examples[0].span.start_line


@pytest.mark.parametrize(
    ("arguments", "diagnostic", "failing"),
    [
        (
            "torch.randn(4), undefined_name",
            ExportDiagnostic(
                "example argument `undefined_name` raised NameError: name 'undefined_name' "
                "is not defined",
                "bad-arguments",
                args_col=16,
            ),
            "undefined_name",
        ),
        (
            "torch.nope(4), torch.randn(4)",
            ExportDiagnostic("the first one", "bad-arguments", args_col=3),
            "torch.nope(4)",
        ),
        (
            "torch.randn(4), *ξs, eps=torch.nope(1)",
            ExportDiagnostic(
                "example argument `torch.nope(1)` raised AttributeError: nope",
                "bad-arguments",
                args_col=len("torch.randn(4), *ξs, eps="),
            ),
            "eps=torch.nope(1)",
        ),
        (
            "torch.randn(4), *ξs, eps=1",
            ExportDiagnostic("does not parse", "bad-arguments", args_col=17),
            "ξs",
        ),
    ],
    ids=["raised", "at-args-col", "keyword-after-wide-characters", "starred"],
)
def test_an_argument_problem_covers_exactly_that_argument(
    arguments: str, diagnostic: ExportDiagnostic, failing: str
) -> None:
    text = TEXT.replace("torch.randn(4), undefined_name", arguments)
    [kernel] = scan_source(text).kernels
    directive_line = kernel.examples[0].span.start_line
    line = text.splitlines()[directive_line]
    # A starred argument's star belongs to it.
    start = line.index(f"*{failing}" if failing == "ξs" else failing)
    end = line.index(failing) + len(failing)
    result = ExportResult(False, None, (diagnostic,), {})
    document = Document("file:///k.py", "/k.py", lambda: EditorText(text, 1), scan_source(text))
    document.results[kernel.name] = KernelResults(kernel.first_decorator_line, (result,))
    [problem] = problems(document, kernel)
    assert problem.span == Span(directive_line, start, directive_line, end)

    job = Job(Path("k.py"), "k.py", text, kernel, kernel.examples[0], 0, Path("out.json"))
    [report] = finish_job(job, result).reports
    assert (report.line, report.col) == (directive_line + 1, start)
