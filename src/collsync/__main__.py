"""``python -m collsync`` runs the command line."""

from collsync.cli import main

main(prog_name="collsync")
