"""StepProgress: a redrawn line on a terminal, a line every N seconds otherwise."""

from __future__ import annotations

import io

from bytepatch.step_progress import StepProgress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_terminal_line_has_step_loss_rate_elapsed_and_eta() -> None:
    clock, term = Clock(), Terminal()
    p = StepProgress(100, stream=term, clock_fn=clock)
    clock.t = 10.0
    p.update(20, loss=2.5, bytes_done=40_000)
    assert term.getvalue().endswith("step 20/100  loss 2.5000  4,000 bytes/s  elapsed 0:10  ETA 0:40")
    assert "\n" not in term.getvalue()  # redrawn in place
    p.status("evaluating held-out bits/byte")
    assert term.getvalue().endswith("[evaluating held-out bits/byte]")
    p.say("step 20/100  held-out 1.9 bits/byte")
    assert term.getvalue().endswith("\r\x1b[Kstep 20/100  held-out 1.9 bits/byte\n")


def test_not_a_terminal_writes_a_line_at_least_every_n_seconds() -> None:
    clock, pipe = Clock(), io.StringIO()
    p = StepProgress(1000, stream=pipe, every_s=30, clock_fn=clock)
    for step in range(1, 1001):
        clock.t = step * 0.5  # 2 steps a second
        p.update(step, loss=1.0)
    lines = pipe.getvalue().splitlines()
    assert "\r" not in pipe.getvalue() and "\x1b" not in pipe.getvalue()
    assert lines[0].startswith("step 1/1000")  # the first step is reported at once
    steps = [int(line.split()[1].split("/")[0]) for line in lines]
    assert all(b - a <= 60 for a, b in zip(steps, steps[1:]))  # <= 30 s apart at 2 steps/s
    assert steps[-1] == 1000 and len(lines) < 30  # not flooded either


def test_speed_and_eta_count_from_begin_elapsed_from_the_start() -> None:
    clock, term = Clock(), Terminal()
    p = StepProgress(100, stream=term, clock_fn=clock)
    clock.t = 50.0  # set-up: data opened, checkpoint read
    p.begin()
    clock.t = 60.0
    p.update(20, loss=2.5, bytes_done=40_000)
    assert term.getvalue().endswith("step 20/100  loss 2.5000  4,000 bytes/s  elapsed 1:00  ETA 0:40")
