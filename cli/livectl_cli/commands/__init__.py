"""One module per `livectl` subcommand, each with a `register(sub)` that adds its parser (main.py lists them)."""
