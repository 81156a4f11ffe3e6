"""``python -m imageshim``: the same as the ``imageshim`` command."""

from ._cli import main

raise SystemExit(main())
