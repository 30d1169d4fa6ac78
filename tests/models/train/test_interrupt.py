"""Stop signals during training: the first asks for a stop after the step, a second aborts."""

from __future__ import annotations

import os
import pickle
import signal
import time

import pytest

from bytepatch.models.train.interrupt import StopOnSignal, TrainingAborted, TrainingInterrupted


def test_the_first_stop_signal_is_recorded_and_a_second_aborts():
    before = signal.getsignal(signal.SIGTERM)  # not always SIG_DFL: an earlier test may have set one
    with StopOnSignal() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert stop.requested and stop.signum == signal.SIGTERM
        with pytest.raises(TrainingAborted) as info:  # a KeyboardInterrupt: no `except Exception` stops it
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        assert isinstance(info.value, KeyboardInterrupt) and info.value.signum == signal.SIGINT
    assert signal.getsignal(signal.SIGTERM) is before  # put back


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP")
def test_a_signal_ignored_before_training_stays_ignored():
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        with StopOnSignal() as stop:
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.05)
            assert not stop.requested
    finally:
        signal.signal(signal.SIGHUP, before)


def test_training_interrupted_keeps_its_step_and_signal_through_pickling():
    back = pickle.loads(pickle.dumps(TrainingInterrupted(7, signal.SIGTERM)))
    assert (back.step, back.signum) == (7, signal.SIGTERM) and "after step 7" in str(back)
    aborted = pickle.loads(pickle.dumps(TrainingAborted(signal.SIGTERM, checkpointed=False)))
    assert aborted.signum == signal.SIGTERM and not aborted.checkpointed and "start the run again" in str(aborted)
