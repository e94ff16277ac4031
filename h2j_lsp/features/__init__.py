"""LSP features: each module turns the session's state into one kind of result, as plain data
(:mod:`h2j_lsp.features.model`) that :mod:`h2j_lsp.proto` converts to LSP types."""
