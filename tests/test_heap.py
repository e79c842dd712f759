"""The backend's garbage-collector settings after start-up."""

from __future__ import annotations

import gc

from backend.heap import YOUNG_THRESHOLD, settle_after_startup


def test_startup_objects_are_frozen_and_young_collections_are_rarer():
    before = gc.get_threshold()
    kept = {"rules": list(range(10))}  # something start-up built and keeps
    try:
        settle_after_startup()
        assert gc.get_freeze_count() > 0
        assert all(o is not kept for o in gc.get_objects())  # out of every collection's walk
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD > before[0]
        assert gc.get_threshold()[1:] == before[1:]
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
