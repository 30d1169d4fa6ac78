"""When the `bytepatch` command runs Python's cycle collector: not during start-up.

A command's start-up is imports (pyarrow, Numba, torch) and model loading that leave
~110,000 long-lived objects (an entropy `segment`; ~29,000 for a space one). Collecting
while they are being created walks them again and again for no garbage: 44-70 ms of an
entropy `segment`'s start-up even at a threshold of 10,000 new container objects (Python's
default is 700), ~10 ms of a space one (`gc.callbacks` timings), and in a run on several
threads each collection holds the GIL the other threads need. So `main()` pauses the
collector; the command resumes it once its start-up is done (`segment`: after the model
and the kernels its groups call are loaded), freezing what start-up left: later
collections never walk those objects again, and a forked worker does not touch their
pages. Cycles made after that are collected as usual, so a long run's memory stays
bounded. The process is the command's own: the library never touches the collector.
"""

from __future__ import annotations

import gc


def pause_cycle_collection() -> None:
    """No cycle collection until `resume_cycle_collection`; from then on, one every
    10,000 new container objects (Python's default, 700, re-walks young objects often)."""
    gc.set_threshold(10_000, 10, 10)
    gc.disable()


def resume_cycle_collection() -> None:
    """Start-up is over: move every object it left to the collector's permanent generation
    (`gc.freeze`, no walk) and collect from here on. Idempotent."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
