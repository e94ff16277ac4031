"""The exporter worker: ``python -m helion2json.worker``, started by ``h2j-lsp``.

- :mod:`~helion2json.worker.protocol`: the messages, shared with the client;
- :mod:`~helion2json.worker.rpc`: JSON-RPC over the worker's stdin/stdout;
- :mod:`~helion2json.worker.exporter`: executes a request's text and exports its kernel;
- :mod:`~helion2json.worker.service`: the methods the worker answers;
- ``__main__``: claims the process's stdin/stdout for the protocol and serves requests.

The worker needs only the standard library, torch, helion and helion2json itself: none of
the language server's packages. Importing this package imports neither torch nor helion.
"""
