"""h2j_lsp: a language server that shows, while you type, whether each Helion kernel exports."""

__version__ = "0.1.0"
