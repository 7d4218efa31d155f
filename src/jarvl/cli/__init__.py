"""The ``jarvl`` command line. Each subcommand lives in its own module exposing ``register(subparsers)``."""
