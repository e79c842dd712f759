"""Garbage-collector settings for a long-running backend process.

Ingest allocates many short-lived containers per post (dicts, tuples,
lists for a batch), so with CPython's default thresholds a young
collection runs every ~700 allocations and regularly escalates into full
collections that walk everything start-up built (the rules, their
lexicons and models, aiohttp's and asyncpg's machinery) — about 10 us per
ingested mention in bench/ingest.py. Freezing what start-up built takes it
out of every collection, and a larger first threshold lets a whole batch
come and go between collections; cycles are still collected, only less
often.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000  # allocations between young collections (CPython's default: 700)


def settle_after_startup() -> None:
    """Call once start-up has loaded everything it keeps: rules, app, pools."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
