"""``python -m analysis`` is the ``physio-outcomes`` command."""

from .cli import main

raise SystemExit(main())
