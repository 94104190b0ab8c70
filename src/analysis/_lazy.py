"""Names imported on first use (PEP 562): the package's and the applications' public faces use it."""

from __future__ import annotations

import importlib


def lazy_exports(package: str, exports: dict[str, str], namespace: dict):
    """Module-level ``__getattr__`` and ``__dir__`` that import ``exports[name]`` (relative to *package*) on first use.

    Examples
    --------
    >>> ns = {}
    >>> get, _ = lazy_exports("analysis", {"schema": "records"}, ns)
    >>> get("schema").__name__, "schema" in ns
    ('analysis.records.schema', True)
    """

    def __getattr__(name: str):
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        value = getattr(importlib.import_module(f".{module}", package), name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
