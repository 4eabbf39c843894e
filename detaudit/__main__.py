"""``python -m detaudit``: the same as the ``detaudit`` command."""

from detaudit.cli import main

raise SystemExit(main())
