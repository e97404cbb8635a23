"""The keys a walk has read: each key is new once, whatever mix of ids a page brings, and a
million integer ids cost a bitmap, not a set."""

from __future__ import annotations

import random
import tracemalloc

from tap_pipedrive.seen import SeenKeys


def test_each_key_is_new_once_whatever_its_kind():
    rng = random.Random(7)
    keys: list = [rng.randrange(0, 5000) for _ in range(3000)]
    keys += [10**12, 10**12, -3, -3, "a1b2", "a1b2", (1, "x"), (1, "x"), 2**70, 2**70]
    keys += [rng.randrange(0, 400_000) for _ in range(3000)]  # the bitmap grows past outliers
    rng.shuffle(keys)
    seen, truth = SeenKeys(), set()
    for key in keys:
        assert seen.add(key) is (key not in truth), key
        truth.add(key)
    assert len(seen) == len(truth)


def test_an_outlier_set_aside_stays_seen_when_the_bitmap_grows_over_it():
    seen = SeenKeys()
    assert seen.add(3_000_000)  # too far for a bitmap of one key: kept in the set
    for key in range(100_000):  # enough keys that a bitmap up to 3,000,000 pays
        seen.add(key)
    assert not seen.add(3_000_000)


def test_a_million_sequential_ids_cost_a_bitmap():
    tracemalloc.start()
    try:
        seen = SeenKeys()
        for key in range(1, 1_000_001):
            seen.add(key)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(seen) == 1_000_000
    assert held < 1_000_000  # a set of them holds ~60 MB
