"""The consume → process → write → commit loop shared by every worker.

A worker polls a batch, hands it to its ``process`` function, flushes the
producer, and only then commits the consumer's offsets. ``process`` raises
:class:`Retryable` (or a BusError/SearchUnavailable, which it wraps) when a
downstream service is down: the same batch is retried with exponential
backoff and nothing is committed until it succeeds. Messages that can never
succeed are sent to the dead-letter topic by the worker's ``dead_letter``
helper with the stage and reason in headers, and then count as processed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pipeline.bus import Bus, BusError, Message
from pipeline.events import DLQ_TOPIC, dead_letter_headers

log = logging.getLogger(__name__)


class Retryable(RuntimeError):
    """A transient failure: retry the whole batch later, commit nothing."""


class Worker:
    def __init__(
        self,
        bus: Bus,
        group: str,
        topics: list[str],
        stage: str,
        process: Callable[[list[Message]], None],
        *,
        batch_size: int = 500,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.bus = bus
        self.stage = stage
        self.group = group
        self.topics = topics
        self._process = process
        self.batch_size = batch_size
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._consumer = bus.consumer(group, topics)
        self.processed = 0
        self.dead_lettered = 0
        self.degraded = False
        self._on_close: list[Callable[[], None]] = []

    def on_close(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` when the worker closes (pools, local state)."""
        self._on_close.append(fn)

    def dead_letter(self, msg: Message, error: BaseException) -> None:
        log.warning(
            "dead-lettering %s@%s/%s key=%r in %s: %s",
            msg.topic, msg.partition, msg.offset, msg.key, self.stage, error,
        )
        # The original headers travel along (for replay); the DLQ's own are dlq-*.
        kept = [(k, v) for k, v in msg.headers if not k.startswith("dlq-") and k != "content-type"]
        original_type = msg.header("content-type")
        headers = kept + dead_letter_headers(
            original_topic=msg.topic, stage=self.stage, error=error, failed_at=datetime.now(UTC)
        )
        headers += [("dlq-original-offset", f"{msg.partition}:{msg.offset}".encode())]
        if original_type:
            headers.append(("dlq-original-content-type", original_type))
        self.bus.publish(DLQ_TOPIC, msg.key, msg.value, headers)
        self.dead_lettered += 1

    def run_once(self, timeout: float = 1.0, stop: threading.Event | None = None) -> int:
        """Poll one batch and process it to the commit. Returns its size."""
        batch = self._consumer.poll(max_records=self.batch_size, timeout=timeout)
        if not batch:
            return 0
        backoff = 0.5
        while True:
            try:
                self._process(batch)
                self.bus.flush()
                break
            except (Retryable, BusError) as exc:
                self.degraded = True
                log.warning("%s: batch of %d failed (%s); retrying in %.1fs",
                            self.stage, len(batch), exc, backoff)
                if stop is not None and stop.is_set():
                    raise
                self._sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
        self.degraded = False
        try:
            self._consumer.commit()
        except BusError as exc:
            # The group rebalanced while we retried: the batch is re-read by
            # whoever owns it now; idempotent writes make that harmless.
            log.warning("%s: commit failed (%s); batch will be re-delivered", self.stage, exc)
        self.processed += len(batch)
        return len(batch)

    def run(self, stop: threading.Event, idle_exit_after: float | None = None) -> None:
        """Loop until ``stop`` is set (or, with ``idle_exit_after``, until idle that long)."""
        idle_since = time.monotonic()
        while not stop.is_set():
            n = self.run_once(timeout=0.5, stop=stop)
            if n:
                idle_since = time.monotonic()
            elif idle_exit_after is not None and time.monotonic() - idle_since > idle_exit_after:
                return

    def drain(self, idle: float = 2.0) -> int:
        """Process until no message arrived for ``idle`` seconds. Returns messages seen."""
        before = self.processed
        self.run(threading.Event(), idle_exit_after=idle)
        return self.processed - before

    def close(self) -> None:
        self._consumer.close()
        for fn in self._on_close:
            fn()
