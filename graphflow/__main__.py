"""``python -m graphflow``: the command-line interface."""

from graphflow.cli import main

raise SystemExit(main())
