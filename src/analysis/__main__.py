"""``python -m analysis`` is the ``physio-outcomes`` command."""

from .app.cli import run

raise SystemExit(run())
