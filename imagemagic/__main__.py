"""`python -m imagemagic` is the `imagemagic` command."""

from .cli import main

raise SystemExit(main())
