"""``python -m h2j_lsp.ci PATH...``: the same command as ``h2j-lsp --export PATH...``."""

from h2j_lsp.ci.main import main

raise SystemExit(main())
