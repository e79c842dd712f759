"""The listening worker: a second process that listens to big batches (match,
enrich, check) so that work uses the other core while the backend stores the
previous batch and serves the consoles.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backend.heap import settle_after_startup
from backend.ingest.store import (
    ListeningUnavailable,
    Prepared,
    Processed,
    Processor,
    make_processor,
    prepared,
    unique_posts,
)
from backend.model import Author, InboundPost
from backend.rulebook import load_rulebook

# The worker process's processor, built once from the rules directory it was started with.
_worker_process: Processor | None = None
_NOT_SENT = datetime(1970, 1, 1, tzinfo=UTC)  # fields listening never reads


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
PARENT_POLL_S = 1.0  # how often the fallback watch looks for its parent


def _die_with_parent(parent: int) -> None:
    """End this worker when the backend that started it dies, however it dies.

    A worker blocked on its call queue never notices a SIGKILLed backend (it holds
    the queue's write end itself), and while it lives so does multiprocessing's
    resource tracker, which waits for every holder of its pipe. On Linux the kernel
    sends SIGKILL at the parent's death (PR_SET_PDEATHSIG); elsewhere, or if prctl
    is unavailable, a daemon thread polls the parent id. Checked once more after
    arming: a parent that died before prctl would never trigger it."""
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent:
        os._exit(1)
    if not armed:

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(PARENT_POLL_S)
            os._exit(1)

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _start_worker(rules_dir: str, parent: int | None = None) -> None:
    global _worker_process
    if parent is not None:
        _die_with_parent(parent)
    _worker_process = make_processor(load_rulebook(rules_dir))
    settle_after_startup()


# Posts cross to the worker and results come back as plain tuples: pickling the
# slotted dataclasses (and each post's raw payload) cost more than listening saved.
def _listening_fields(post: InboundPost) -> tuple[Any, ...]:
    """What listening reads of a post: matching, language, sentiment, reach, checks."""
    return (
        post.platform,
        post.author.platform_id,
        post.author.handle,
        post.author.followers,
        post.text,
        post.is_direct,
        post.language,
        post.mentioned_handles,
        post.hashtags,
        post.in_reply_to,  # a reply or quote may join a thread by where it sits
        post.quote_of,
    )


def _listen_in_worker(batch: list[tuple[Any, ...]]) -> list[tuple[Any, ...] | None]:
    assert _worker_process is not None, "ListeningWorker's process was not started"
    out: list[tuple[Any, ...] | None] = []
    for (
        platform,
        author_id,
        handle,
        followers,
        text,
        is_direct,
        language,
        handles,
        hashtags,
        in_reply_to,
        quote_of,
    ) in batch:
        post = InboundPost(
            platform,
            "",
            Author(author_id, handle, "", followers),
            text,
            _NOT_SENT,
            is_direct=is_direct,
            language=language,
            mentioned_handles=handles,
            hashtags=hashtags,
            in_reply_to=in_reply_to,
            quote_of=quote_of,
        )
        p = _worker_process(post)
        out.append(
            None
            if p is None
            else (
                p.ours,
                p.match_how,
                p.language,
                p.sentiment,
                p.priority,
                p.priority_reasons,
                p.flags,
                p.abusive,
                p.threat,
            )
        )
    return out


def _resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


class ListeningWorker:
    """Listening (match, enrich, checks) for ingest in a process of its own.

    Listening is pure CPU and the database round trips of storing a batch
    leave this process idle, so `prepare` for batch N+1 runs there while
    batch N is stored here (Ingest.store_prepared). It pays off when a core
    is free: sending posts across costs ~10 us a post in this process, so
    on a machine already busy with other work `Ingest.store` in one process
    is as fast or faster (bench/ingest.py with and without --serial shows
    which). The worker loads the rules from `rules_dir` itself (a processor
    cannot be sent to another process); when the rules change, start a new
    worker (the app follows LiveRules that way).
    """

    RETRY_AFTER = 30.0  # seconds before starting a process again after one could not start or died

    def __init__(self, rules_dir: str | Path, *, validate: bool = True):
        if validate:
            load_rulebook(
                rules_dir
            )  # broken rules raise FileErrors here, naming file and line, not in the worker
        self._rules_dir = str(rules_dir)
        self._pool = self._start()
        self._down_until = 0.0

    def _start(self) -> ProcessPoolExecutor:
        # spawn: a fresh interpreter, not a fork of one holding sockets and an event loop.
        # The process itself starts on the first batch.
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self._rules_dir, os.getpid()),
        )

    async def prepare(self, posts: Sequence[InboundPost]) -> Prepared:
        """`ingest.prepare` for `posts`, with the listening run in the worker process.

        Raises ListeningUnavailable when the process died (killed, out of
        memory) or cannot start; a new one is started for a later batch."""
        loop = asyncio.get_running_loop()
        if loop.time() < self._down_until:
            raise ListeningUnavailable("the worker process failed recently")
        unique, duplicates = unique_posts(posts)
        try:
            results = await loop.run_in_executor(
                self._pool, _listen_in_worker, [_listening_fields(p) for p in unique]
            )
        except BrokenProcessPool as exc:
            self._pool.shutdown(wait=False)
            self._pool = self._start()
            self._down_until = loop.time() + self.RETRY_AFTER
            raise ListeningUnavailable(f"the worker process stopped ({exc})") from None
        return prepared(
            [None if r is None else Processed(post, *r) for post, r in zip(unique, results)],
            duplicates,
        )

    async def resident_mb(self) -> float:
        """The worker process's resident memory in MB (Linux), to watch it stay flat."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, _resident_mb)

    def close(self, wait: bool = True) -> None:
        """Stop the worker process; with wait=False it ends after the batch it is on."""
        self._pool.shutdown(wait=wait)

    def __enter__(self) -> ListeningWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
