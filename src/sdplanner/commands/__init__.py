"""Subcommands of the ``sdplanner`` command line.

Each module here defines ``register(subparsers)``, which adds one subcommand whose
``handler(args) -> int`` calls the library and prints. `sdplanner.cli` discovers them.
"""
