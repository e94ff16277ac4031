"""LSP features: each module turns the session's state into one kind of LSP result."""
