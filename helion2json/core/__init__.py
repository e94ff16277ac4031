"""The exporter's internals: device-IR capture, schema, CLI."""
