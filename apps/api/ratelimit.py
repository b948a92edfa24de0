"""Requests per token per minute, counted in fixed windows in Django's cache.

A fixed window lets a burst of up to twice the limit straddle a minute's edge;
that is the price of one cache increment per request, and fine for a limit
meant to stop a runaway script rather than to meter anyone.
"""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache

from apps.api.problems import too_many_requests

WINDOW_SECONDS = 60
DEFAULT_LIMIT = 600


def rate_limit() -> int:
    """Requests allowed per token and minute (setting ``API_RATE_LIMIT``; 0: none)."""
    return int(getattr(settings, "API_RATE_LIMIT", DEFAULT_LIMIT))


def check_rate(key: str) -> None:
    """Count one request for ``key``; a 429 problem with Retry-After when over."""
    limit = rate_limit()
    if limit <= 0:
        return
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    cache_key = f"api-rate:{key}:{window}"
    # add() is a no-op when the counter exists; incr() is atomic in Redis and
    # memcached and under a lock in the local-memory cache.
    cache.add(cache_key, 0, timeout=WINDOW_SECONDS + 5)
    try:
        count = cache.incr(cache_key)
    except ValueError:
        # Evicted between add() and incr(): count this request as the first.
        cache.set(cache_key, 1, timeout=WINDOW_SECONDS + 5)
        count = 1
    if count > limit:
        retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
        raise too_many_requests(retry_after)
