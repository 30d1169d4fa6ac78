"""The console script's entry point: how a torchrun rank ends (see `end_rank`)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bytepatch.cli.main import exit_status

# Markers: an atexit handler, and an object of __main__ that only interpreter shutdown
# (which clears the module's globals) deletes.
ENTRY = (
    "import atexit, os, sys\n"
    "import torch.distributed\n"
    "atexit.register(lambda: print('atexit ran', file=sys.stderr))\n"
    "class Marker:\n"
    "    def __del__(self, write=os.write):\n"
    "        write(2, b'interpreter shutdown\\n')\n"
    "keep = Marker()\n"
    "from bytepatch.cli.main import main\n"
    "main()\n"
)


def _run(world_size: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WORLD_SIZE": world_size}
    return subprocess.run([sys.executable, "-c", ENTRY, *args], capture_output=True, text=True, env=env, timeout=120)


def test_exit_status_is_what_sys_exit_gives(capsys):
    assert exit_status(None) == 0
    assert exit_status(0) == 0
    assert exit_status(130) == 130
    assert exit_status("bad input") == 1
    assert capsys.readouterr().err == "bad input\n"


@pytest.mark.parametrize("world_size", ["1", "2"])
def test_a_torchrun_rank_skips_interpreter_shutdown_but_keeps_its_output_and_status(world_size):
    from bytepatch import __version__

    ok = _run(world_size, "--version")
    assert ok.returncode == 0
    assert __version__ in ok.stdout  # a pipe is block-buffered: only a flush gets it out
    failed = _run(world_size, "segment", "/no/such/input.jsonl", "-o", "/no/such/out")
    assert failed.returncode not in (0, -6)
    assert "/no/such/input.jsonl" in failed.stderr
    for result in (ok, failed):
        # Ranks (WORLD_SIZE > 1, torch.distributed imported) run what exit runs, then leave
        # before interpreter shutdown, where a DDP run's gloo threads could abort them.
        assert "atexit ran" in result.stderr
        assert ("interpreter shutdown" in result.stderr) == (world_size == "1")
