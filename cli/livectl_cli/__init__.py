"""livectl's operator command line (installed into .venv; never part of the Lambda package)."""
