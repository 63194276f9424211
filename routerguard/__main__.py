"""Allow `python -m routerguard`, handy on routers without the console script."""

from routerguard.cli import main

raise SystemExit(main())
