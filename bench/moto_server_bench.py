"""moto_server for the drain bench, with moto's hot spots mended as in the local stack (`moto_fixes`: SQS
ReceiveMessage's O(n²) retention check, TransactWriteItems' copy of the whole table per call). Usage: the same
arguments as `moto_server`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from moto.server import main
from werkzeug.serving import WSGIRequestHandler

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from livectl_cli.local import moto_fixes

moto_fixes.install()
# One log line per request, formatted and written under load, is ~9 % of a moto process's CPU; nobody reads it.
WSGIRequestHandler.log_request = lambda *args, **kwargs: None  # type: ignore[method-assign]

if __name__ == "__main__":
    main(sys.argv[1:])
