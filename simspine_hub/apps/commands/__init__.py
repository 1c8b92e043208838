"""One module per ``simspine`` subcommand: ``add_parser(subparsers)`` and ``run(args) -> exit code``."""
