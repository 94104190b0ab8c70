"""``python -m analysis`` is the ``physio-outcomes`` command."""

from .cli import run

raise SystemExit(run())
