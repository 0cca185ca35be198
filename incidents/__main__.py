"""`python -m incidents` is the `incidents` command."""

from incidents.cli import main

main()
