"""The registry's background job in a served app: a signed checkpoint of the transparency log at
least every minute while the log grows (issue 5), without a cron entry.

The app's lifespan starts one :class:`CheckpointJob` per worker process. Each tick first looks,
read-only, whether the tree has grown past its latest checkpoint, and only then opens a write
transaction to sign one. Several workers (or a cron-run ``yiwang registry checkpoint``) cannot
clash: signing locks the tree's head and a size already signed is returned, not signed again, so
at most one checkpoint is stored per tree size. The job is an entrypoint: it owns its transactions.
"""

from __future__ import annotations

import logging
import threading
import time

from yiwang.kit.merkle import Checkpoint
from yiwang.registry import log
from yiwang.runtime import Platform

CHECKPOINT_SECONDS = 60.0  # how often a served app checks whether the log needs a new checkpoint
logger = logging.getLogger("yiwang.registry")


def checkpoint_tick(platform: Platform) -> Checkpoint | None:
    """One tick: sign and store a checkpoint if the log grew since the latest one; else None."""
    with platform.session_scope(read_only=True) as session:
        if not log.grown(session, platform.keyring.suite_name):
            return None
    with platform.session_scope() as session:
        return log.checkpoint_if_grown(session, platform.keyring)


class CheckpointJob:
    """Runs :func:`checkpoint_tick` every ``interval`` seconds (default :data:`CHECKPOINT_SECONDS`)
    on a thread of its own, until :meth:`stop`. A failed tick (the database away) is logged and
    tried again on the next one."""

    def __init__(self, platform: Platform, interval: float | None = None) -> None:
        self.platform = platform
        self.interval = CHECKPOINT_SECONDS if interval is None else interval
        self.ticks = 0
        self.signed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="registry-checkpoints", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop, waiting for a tick under way to finish (its transaction commits or rolls back)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        # Ticks keep to their schedule (start + k·interval) however long a tick takes.
        due = time.monotonic() + self.interval
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            due += self.interval
            try:
                if checkpoint_tick(self.platform) is not None:
                    self.signed += 1
            except Exception:  # noqa: BLE001 - a background job must outlive a failed tick
                logger.exception("registry checkpoint failed; trying again in %s s", self.interval)
            self.ticks += 1
            due = max(due, time.monotonic())
