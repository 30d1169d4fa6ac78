"""Stop-signal handlers: installed for what is not ignored, the replaced ones put back."""

from __future__ import annotations

import signal
import threading

import pytest

from bytepatch.signals import STOP_SIGNALS, blocked, catch_stop_signals, restore


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP")
def test_a_signal_ignored_before_is_left_ignored_and_the_others_are_put_back():
    def handler(signum, frame):
        pass

    before = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        previous = catch_stop_signals(handler)
        assert signal.SIGHUP not in previous and signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        assert all(signal.getsignal(sig) is handler for sig in previous)
        restore(previous)
        assert all(signal.getsignal(sig) is previous[sig] for sig in previous)
    finally:
        for sig, handler_before in before.items():
            signal.signal(sig, handler_before)


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="no signal masks")
def test_a_signal_held_back_by_blocked_is_delivered_when_the_block_ends():
    """What a worker process starts under: a SIGTERM in its first moment waits until it has
    put back the default handlers."""
    seen = []
    before = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        with blocked([signal.SIGTERM]):
            signal.pthread_kill(threading.get_ident(), signal.SIGTERM)  # to this thread, held back
            assert seen == [] and signal.SIGTERM in signal.sigpending()
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, before)
