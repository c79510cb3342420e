"""moto's hot spots mended for a threaded moto server (the local stack, the tests, the benches).

1. SQS ReceiveMessage checks each candidate message's retention by computing *every* attribute of its queue,
approximate message counts included, which walks the whole queue: O(n) per message, O(n²) per receive. A burst
of 1,000 auto-stops queued at once made that the local stack's main cost (the drain bench's moto process spent
57 % of its CPU under `Queue.attributes`). SQS does not slow down with depth: the retention period is read
directly; nothing else changes.

2. DynamoDB TransactWriteItems.

moto backs up every table a transaction touches with `copy.deepcopy(table)` before it starts, to roll back if
the transaction is cancelled. Two costs, both moto's and not DynamoDB's:
- it is O(table size) per call (the ledger grows by two items per command: a drain of 1,000 commands would
  spend most of moto's CPU copying tables);
- it iterates the table while other request threads of the same server write to it, and fails with
  "dictionary changed size during iteration" (an HTTP 500) whenever batches run concurrently.

This backs up only the items the transaction names (one deep copy each), under a lock shared by transactions,
and lets moto's own code do everything else: conditions, cancellation reasons and the writes themselves are
moto's.

3. Per-request and per-message costs that grow with traffic, found by profiling `livectl local` under a drain
(py-spy, stop 11: 96 CPU ms per command, 29 % of it in PutEvents, 20 % in moto's request dispatch):
- every request lists moto's package directory (`list_of_moto_modules`: ~200 `isdir` calls) under the
  dispatcher's lock: the list is read once;
- every SendMessage (the events tap's too: EventBridge delivers each event to a queue that grows all session)
  computes every queue attribute, approximate counts included, to read `ContentBasedDeduplication`: O(queue
  depth) per message. While a message is sent the counts are not computed (nothing reads them there), and
  elsewhere they take one pass with one clock reading;
- a message's `visible` and `delayed` read the clock through `datetime` each time: `time.time()`, the same
  value;
- a queue's message list is not guarded: DeleteMessage rebuilds it and assigns the copy, so two deletes at once
  (two containers finishing batches) put one deleted message back, in flight until its visibility timeout (a
  drain of 1,000 left 12-38 of them, which came back 180 s later); and two receives at once could both take
  one message. Receives and deletes hold moto's own per-queue lock, which SendMessage already holds; a long
  poll (the local pollers', as Lambda's) scans under it and waits with it released, woken by the next send;
- every event an input transformer touches parses its JSONPath expressions again: they are parsed once;
- an UpdateExpression's validators (one tree walk each) rebuild their node-type table at every node of the
  tree: each walk builds it once (the tables are constant: node type → the validator's own method).

4. Every DynamoDB request parses its UpdateExpression and lexes its ConditionExpression again, token by token in
Python, though the ledger's and Powertools' idempotency store's are a handful of constant texts (the publishing
lease's condition, stop 12, made the ledger's longer: +2 CPU ms per command in moto). Each text is parsed once:
the UpdateExpression's tree is only read (`find_clauses`) or deep-copied by the validator before it is changed,
and the lexer's nodes are tuples, handed to the parser in a fresh deque. Measured in-process on 300 ledger writes
(transaction + published mark): 11.8-13.3 CPU ms a command before, 10.2-12.0 after.

`install()` is idempotent; call it in any process that runs a moto server.
"""

from __future__ import annotations

import copy
import functools
import threading
import time
import types
from typing import Any

_LOCK = threading.RLock()
_installed = False
_sending = threading.local()  # set while SendMessage runs in this thread: it reads no approximate count


def _table_copy_skipped(value: Any, memo: Any = None) -> Any:
    from moto.dynamodb.models.table import Table

    if isinstance(value, Table):
        return value  # the rollback below restores the touched items instead
    return copy.deepcopy(value, memo)


def _key_of(table: Any, op: dict[str, Any]) -> tuple[Any, Any] | None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    key = op.get("Key") or op.get("Item") or {}
    hash_value = key.get(table.hash_key_attr)
    range_value = key.get(table.range_key_attr) if table.range_key_attr else None
    if hash_value is None or (table.range_key_attr and range_value is None):
        return None
    return DynamoType(hash_value), DynamoType(range_value) if range_value is not None else None


def _restore(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    if range_key is not None:
        if item is None:
            table.items.get(hash_key, {}).pop(range_key, None)
        else:
            table.items[hash_key][range_key] = item
    elif item is None:
        table.items.pop(hash_key, None)
    else:
        table.items[hash_key] = item


def _within_retention(self: Any, queue_name: str, message: Any) -> bool:
    from moto.core.utils import unix_time

    retention = self.get_queue(queue_name).message_retention_period  # set from the queue's attributes
    return bool(retention + message.sent_timestamp / 1000 > unix_time())


def _now_ms() -> float:
    return time.time() * 1000.0


def _visible(message: Any) -> bool:
    return bool(_now_ms() > message.visible_at)


def _delayed(message: Any) -> bool:
    return bool(_now_ms() < message.delayed_until)


def _count(test: Any) -> property:
    """An approximate count in one pass over the queue with one clock reading; 0 while a message is sent."""

    def count(queue: Any) -> int:
        if getattr(_sending, "active", False):
            return 0
        now = _now_ms()
        return sum(1 for m in list(queue._messages) if test(m, now))

    return property(count)


def _mend_sqs() -> None:
    from moto.sqs.models import Message, Queue, SQSBackend

    SQSBackend.is_message_valid_based_on_retention_period = _within_retention  # type: ignore[method-assign]
    Message.visible = property(_visible)  # type: ignore[assignment,method-assign]
    Message.delayed = property(_delayed)  # type: ignore[assignment,method-assign]
    Queue.approximate_number_of_messages = _count(  # type: ignore[assignment,method-assign]
        lambda m, now: now > m.visible_at and not now < m.delayed_until
    )
    Queue.approximate_number_of_messages_not_visible = _count(  # type: ignore[assignment,method-assign]
        lambda m, now: not now > m.visible_at
    )
    Queue.approximate_number_of_messages_delayed = _count(  # type: ignore[assignment,method-assign]
        lambda m, now: now < m.delayed_until
    )
    original_send = SQSBackend.send_message

    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        _sending.active = True
        try:
            return original_send(self, *args, **kwargs)
        finally:
            _sending.active = False

    SQSBackend.send_message = send_message  # type: ignore[method-assign]
    original_receive = SQSBackend.receive_message
    original_delete = Queue.delete_message

    def receive_message(
        self: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> Any:
        queue = self.queues.get(queue_name)
        if queue is None:  # moto's own error
            return original_receive(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
        deadline = time.monotonic() + (wait_seconds_timeout or 0)
        # moto's own (re-entrant) lock, which SendMessage holds to append and notifies; a long poll waits on it
        # released, woken by a send or after 1 s (a message visible again after its timeout sends no signal).
        with queue._messages_lock:
            while True:
                found = original_receive(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
                remaining = deadline - time.monotonic()
                if found or remaining <= 0:
                    return found
                queue._messages_lock.wait(min(1.0, remaining))

    def delete_message(self: Any, receipt_handle: str) -> None:
        with self._messages_lock:
            original_delete(self, receipt_handle)

    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]
    Queue.delete_message = delete_message  # type: ignore[method-assign]


def _mend_dispatch_and_events() -> None:
    import jsonpath_ng.ext
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=512)(jsonpath_ng.ext.parse)


def _mend_update_validation() -> None:
    from moto.dynamodb.parsing import ast_nodes

    walker: Any = getattr(ast_nodes, "DepthFirstTraverser")  # noqa: B009 - moto types this module partly

    def traverse(self: Any, node: Any) -> Any:
        table = self._processing_map()
        kinds = tuple(table)
        self._processing_map = lambda: table
        self.nodes_to_be_processed = lambda: kinds
        try:
            return self.traverse_node_recursively(node)
        finally:
            del self._processing_map, self.nodes_to_be_processed

    walker.traverse = traverse


def _mend_expression_parsing() -> None:
    """Parse each UpdateExpression and lex each ConditionExpression once per text (see the module's note 4)."""
    import collections

    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing import expressions

    parser: Any = getattr(expressions, "UpdateExpressionParser")  # noqa: B009 - moto types this module partly
    parse_update = parser.make.__func__
    parse_once = functools.lru_cache(maxsize=512)(lambda expression: parse_update(parser, expression))
    parser.make = classmethod(lambda cls, expression: parse_once(expression))

    lex = ConditionExpressionParser._lex_condition_expression

    @functools.lru_cache(maxsize=512)
    def lex_once(text: str) -> tuple[Any, ...]:  # the lexer reads nothing but the text
        return tuple(lex(ConditionExpressionParser(text, {}, {})))

    def lex_condition(self: Any) -> Any:
        return collections.deque(lex_once(self.condition_expression))

    ConditionExpressionParser._lex_condition_expression = lex_condition  # type: ignore[method-assign]


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.dynamodb import models

    _mend_sqs()
    _mend_dispatch_and_events()
    _mend_update_validation()
    _mend_expression_parsing()

    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _LOCK:
            saved: list[tuple[Any, Any, Any, Any]] = []
            for entry in transact_items:
                op = next(iter(entry.values()), None) if len(entry) == 1 else None
                if not isinstance(op, dict):
                    continue
                table = self.tables.get(op.get("TableName"))
                key = _key_of(table, op) if table is not None else None
                if key is not None:
                    current = table.get_item(*key)
                    saved.append((table, *key, copy.deepcopy(current) if current is not None else None))
            try:
                original(self, transact_items)
            except Exception:
                for table, hash_key, range_key, item in reversed(saved):
                    _restore(table, hash_key, range_key, item)
                raise

    models.copy = types.SimpleNamespace(deepcopy=_table_copy_skipped)  # type: ignore[assignment]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _installed = True
