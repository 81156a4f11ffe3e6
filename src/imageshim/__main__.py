"""``python -m imageshim``: the same as the ``imageshim`` command."""

from imageshim._frontends.cli import main

raise SystemExit(main())
