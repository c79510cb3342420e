"""What the handlers write, as the local stack's one-line log needs it.

- `MetricDocumentFilter`: stdout without Powertools' EMF documents. With POWERTOOLS_METRICS_DISABLED set,
  Powertools still prints one when a metric reaches 100 values, and `single_metric` always prints; in Lambda
  they go to CloudWatch, here they would break the one-line log.
- `FailureReasons`: why each failed batch record failed. Powertools' BatchProcessor logs every record's
  exception at DEBUG from inside its `except` block; the handler installed on that logger keeps, for the
  current thread's invocation, the exception's code (`LivectlError.code`) or class name, so the poller can
  say `kept 1 (InternalError)`.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

BATCH_LOGGER = "aws_lambda_powertools.utilities.batch"
_EMF_PREFIX = '{"_aws"'


class MetricDocumentFilter(io.TextIOBase):
    """A stdout that drops every EMF document (a line that starts with `{"_aws"`) and passes the rest."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._dropping = threading.local()  # print() writes the text, then "\n": drop that newline too

    def write(self, text: str) -> int:
        if text.startswith(_EMF_PREFIX):
            self._dropping.newline = not text.endswith("\n")
            return len(text)
        if getattr(self._dropping, "newline", False):
            self._dropping.newline = False
            if text.startswith("\n"):
                self.stream.write(text[1:])
                return len(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.stream.isatty()


@contextmanager
def without_metric_documents() -> Iterator[None]:
    """sys.stdout filtered by MetricDocumentFilter for the duration (restored only if still ours)."""
    original = sys.stdout
    filtered = MetricDocumentFilter(original)
    sys.stdout = filtered
    try:
        yield
    finally:
        if sys.stdout is filtered:
            sys.stdout = original


class FailureReasons(logging.Handler):
    """Collects, per thread, the reason of each record the BatchProcessor reports as failed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        reasons = getattr(self._local, "reasons", None)
        if reasons is None or not record.getMessage().startswith("Record processing exception"):
            return
        error = sys.exc_info()[1]  # the failing record's exception: we are inside the processor's except
        code = getattr(error, "code", None)
        reasons.append(str(code) if isinstance(code, str) and code else type(error).__name__ if error else "?")

    @contextmanager
    def collect(self) -> Iterator[list[str]]:
        collected: list[str] = []
        self._local.reasons = collected
        try:
            yield collected
        finally:
            self._local.reasons = None


def summary(reasons: list[str]) -> str:
    """`InternalError`, `Throttling ×2, InternalError`: most frequent first."""
    return ", ".join(reason if n == 1 else f"{reason} ×{n}" for reason, n in Counter(reasons).most_common())


_installed: FailureReasons | None = None


def failure_reasons() -> FailureReasons:
    """The process's FailureReasons handler, on the BatchProcessor's logger (installed once)."""
    global _installed
    if _installed is None:
        _installed = FailureReasons()
        logger = logging.getLogger(BATCH_LOGGER)
        logger.addHandler(_installed)
        if logger.getEffectiveLevel() > logging.DEBUG:
            logger.setLevel(logging.DEBUG)
    return _installed
