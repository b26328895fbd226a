"""`python -m gateway` runs the same command line as `gateway`."""

from gateway.cli import main

raise SystemExit(main())
