"""The exporter worker: ``python -m helion2json.worker``, started by ``h2j-lsp``.

- :mod:`~helion2json.worker.exporter` executes a request's text and exports its kernel;
- :mod:`~helion2json.worker.service` answers the JSON-RPC methods;
- ``__main__`` claims the process's stdin/stdout for the protocol and serves requests.

Importing this package imports neither torch nor helion.
"""
