"""``h2j-lsp``: the language server over stdio, or ``h2j-lsp --export PATH...`` for CI."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from h2j_lsp import __version__

USAGE = """\
usage: h2j-lsp [--stdio]       speak the Language Server Protocol over stdin/stdout
       h2j-lsp --export ...    export every annotated kernel under the paths (CI mode);
                               see 'h2j-lsp --export --help'
       h2j-lsp --version
       h2j-lsp --help

The server shows, while you type, whether each Helion kernel exports to JSON.
It never imports torch or helion itself: exports run in a worker process
(python -m helion2json.worker), locally or on a GPU host over ssh.
"""


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] == "--export":
        from h2j_lsp.ci.main import main as export_main

        return export_main(arguments)
    if arguments in (["--version"], ["-V"]):
        print(f"h2j-lsp {__version__}")
        return 0
    if arguments in (["--help"], ["-h"]):
        print(USAGE, end="")
        return 0
    # Many editors pass --stdio to every language server they start.
    if arguments and arguments != ["--stdio"]:
        print(f"h2j-lsp: unexpected arguments: {' '.join(arguments)}\n\n{USAGE}", file=sys.stderr)
        return 2
    from h2j_lsp.server import create_server

    create_server().start_io()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
