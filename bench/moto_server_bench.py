"""moto_server for the drain bench, with one moto hot spot mended.

moto's ReceiveMessage checks each candidate message's retention by computing *every* attribute of its queue,
approximate message counts included, which walks the whole queue: O(n) per message, O(n²) per receive. With
the bench's 1,000 queued commands that, not livectl, was the moto process's main cost (py-spy: 57 % of its CPU
under `Queue.attributes`). SQS itself does not slow down with depth, so this reads the retention period
directly; nothing else in moto changes. Usage: the same arguments as `moto_server`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from moto.core.utils import unix_time
from moto.server import main
from moto.sqs.models import SQSBackend

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from livectl_cli.local import moto_fixes


def _within_retention(self: SQSBackend, queue_name: str, message: Any) -> bool:
    queue = self.get_queue(queue_name)
    retention = queue.message_retention_period  # type: ignore[attr-defined]  # set from the attributes
    return bool(retention + message.sent_timestamp / 1000 > unix_time())


SQSBackend.is_message_valid_based_on_retention_period = _within_retention  # type: ignore[method-assign]

# TransactWriteItems (the ledger's STATE + command item) without moto's copy of the whole table per call.
moto_fixes.install()

if __name__ == "__main__":
    main(sys.argv[1:])
