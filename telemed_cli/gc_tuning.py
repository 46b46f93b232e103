"""Python's cyclic garbage collector, tuned for a long-running hub process.

A full (generation 2) collection walks every tracked object while the event loop waits. At
5,000 patients sending a reading a second the hub held about 600,000 tracked objects (the
imported code, per-patient analysis state, readings in flight), and full collections came every
4 s and took 250-600 ms: most of issue 13's p99 alert latency (docs/architecture.md, "Garbage
collection and memory bus retention"). Two standard remedies, applied by ``telemed serve`` and ``telemed demo`` only
(tests and tools keep Python's defaults):

* ``freeze_startup``: once the server is up, everything created so far (modules, functions,
  classes, the app: about 210,000 objects) moves to the permanent generation, which no
  collection scans again. Reference counting still frees such objects; only cycles among them
  would stay, and startup objects live as long as the process anyway.
* ``tune``: the first generation is collected every 5,000 net allocations instead of 700, so
  readings that live for a few milliseconds die before a collection sees them and are never
  promoted; fewer promotions mean far fewer full collections (one instead of 26 in a 45 s run
  at 5,000 patients, same window).
"""

from __future__ import annotations

import gc

#: (generation 0, 1, 2) thresholds; Python's defaults are (700, 10, 10).
THRESHOLDS = (5_000, 20, 20)


def tune() -> None:
    gc.set_threshold(*THRESHOLDS)


def freeze_startup() -> int:
    """Collect once, then exempt every object alive now from later collections; return how
    many were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
