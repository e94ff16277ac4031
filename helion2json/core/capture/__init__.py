"""Device IR → JSON: the exporter's translation of a bound Helion kernel.

Helion lowers a kernel into FX graphs (``bound.host_function.device_ir``): one
root graph per grid launch, one graph per device loop, if/else branch, scan
combine function, and so on. ``translator.KernelTranslator`` walks those
graphs, names values after the kernel's own variables, and emits the flat op
list of the JSON format (``docs/json-format.md``).

- ``helion_ir``: the only module that reads Helion's private IR; the supported
  releases (``SUPPORTED_HELION``) and the patch ``install()`` applies.
- ``registry``: how a handler is registered for a device-IR target, with the
  format ops it emits.
- ``translator``: the walk, its state, names and operands.
- one module per op family, each registering its handlers: ``memory``,
  ``control``, ``reductions``, ``math_ops``, ``tiles``, ``host_values``; with
  ``symbols`` (symbolic sizes), ``source`` (the kernel's AST) and ``values``.
- ``result_types``: the type every value-defining op records, for all of them.
- ``specialization``: what Helion specialised, for ``funcs[].specialization``.
"""

# The op families register their handlers when imported.
from helion2json.core.capture import control, host_values, math_ops, memory, reductions, tiles  # noqa: F401
