"""The moment a provider request leaves: a hook armed per thread, fired by the connection as it writes the request.

The provider counts arrivals and the limiter counts grants (`ratelimit`). Between the two, a worker thread still
runs `requests`' and urllib3's Python, and in a container whose other workers hold the GIL (boto3 calls, JSON) it
can wait there for tens of ms: past the limiter's 20 ms window margin, the provider then sees a window's worth of
calls plus one. `ProviderClient.send` arms the limiter's `departed` for its thread; the pooled session's
connections fire it as they begin to write, so the limiter counts that slot from the departure, not the grant.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_armed = threading.local()


def arm(hook: Callable[[], None] | None) -> None:
    """`hook` runs once, in this thread, when the next request on a stamping connection begins to write."""
    _armed.hook = hook


def disarm() -> None:
    _armed.hook = None


def _fire() -> None:
    hook = getattr(_armed, "hook", None)
    if hook is not None:
        _armed.hook = None
        hook()


def stamping_adapter(pool_maxsize: int) -> Any:
    """A requests HTTPAdapter whose connections fire the armed hook as each request begins to write."""
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class StampingHTTPConnection(HTTPConnection):
        def request(self, *args: Any, **kwargs: Any) -> None:
            _fire()
            super().request(*args, **kwargs)

    class StampingHTTPSConnection(HTTPSConnection):
        def request(self, *args: Any, **kwargs: Any) -> None:
            _fire()
            super().request(*args, **kwargs)

    class StampingHTTPConnectionPool(HTTPConnectionPool):
        ConnectionCls = StampingHTTPConnection

    class StampingHTTPSConnectionPool(HTTPSConnectionPool):
        ConnectionCls = StampingHTTPSConnection

    class StampingAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            # The manager's own mapping (a fresh dict: urllib3's module-level one stays as it is).
            self.poolmanager.pool_classes_by_scheme = {
                "http": StampingHTTPConnectionPool,
                "https": StampingHTTPSConnectionPool,
            }

    return StampingAdapter(pool_connections=4, pool_maxsize=max(1, pool_maxsize))
