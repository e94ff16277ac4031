"""``python -m h2j_lsp.export_cli PATH...``: the documented spelling of ``h2j-lsp --export``
that scripts already run; the command lives in :mod:`h2j_lsp.ci`."""

from h2j_lsp.ci.main import main

if __name__ == "__main__":
    raise SystemExit(main())
