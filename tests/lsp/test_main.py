"""The ``h2j-lsp`` command line around the server."""

from __future__ import annotations

import subprocess
import sys

from h2j_lsp import __version__


def h2j_lsp(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "h2j_lsp", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_version_and_help() -> None:
    version = h2j_lsp("--version")
    assert (version.returncode, version.stdout) == (0, f"h2j-lsp {__version__}\n")
    usage = h2j_lsp("--help")
    assert usage.returncode == 0
    assert "h2j-lsp --export" in usage.stdout


def test_export_goes_to_the_headless_command() -> None:
    export = h2j_lsp("--export", "--help")
    assert export.returncode == 0
    assert "--out-dir" in export.stdout


def test_unexpected_arguments() -> None:
    wrong = h2j_lsp("--stdio-please")
    assert wrong.returncode == 2
    assert "unexpected arguments" in wrong.stderr
