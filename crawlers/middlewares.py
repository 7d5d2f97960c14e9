"""Retries with exponential backoff.

Scrapy's RetryMiddleware retries 5xx answers and timeouts at once; a site
that is struggling deserves a pause. This subclass waits
``TILTS_RETRY_BACKOFF_BASE`` × 2^(attempt − 1) seconds (capped by
``TILTS_RETRY_BACKOFF_MAX``) before handing the retry back to the scheduler.
The wait is asynchronous: other domains keep being crawled meanwhile.
"""

from __future__ import annotations

import asyncio
from typing import Any

from scrapy import Request
from scrapy.downloadermiddlewares.retry import RetryMiddleware


class BackoffRetryMiddleware(RetryMiddleware):
    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.base = settings.getfloat("TILTS_RETRY_BACKOFF_BASE", 1.0)
        self.cap = settings.getfloat("TILTS_RETRY_BACKOFF_MAX", 60.0)

    async def _pause(self, result: Any) -> Any:
        if isinstance(result, Request):
            attempt = int(result.meta.get("retry_times", 1))
            await asyncio.sleep(min(self.base * 2 ** (attempt - 1), self.cap))
        return result

    async def process_response(self, request: Request, response: Any, spider: Any = None) -> Any:
        return await self._pause(super().process_response(request, response, spider))

    async def process_exception(self, request: Request, exception: Exception, spider: Any = None) -> Any:
        return await self._pause(super().process_exception(request, exception, spider))
