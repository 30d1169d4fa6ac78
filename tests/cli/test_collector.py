"""The `bytepatch` command pauses Python's cycle collector for its start-up
(`cli/_collector.py`); each case runs in its own interpreter, as the collector is
process-wide."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _python(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


def test_pause_then_resume_freezes_what_start_up_left():
    state = _python(
        "import gc, json\n"
        "from bytepatch.cli._collector import pause_cycle_collection, resume_cycle_collection\n"
        "pause_cycle_collection()\n"
        "paused = (gc.isenabled(), gc.get_threshold())\n"
        "left = [{'made': 'during start-up'}]\n"
        "resume_cycle_collection()\n"
        "frozen = gc.get_freeze_count()\n"
        "resume_cycle_collection()  # idempotent: nothing frozen twice, still on\n"
        "print(json.dumps({'paused': paused, 'on': gc.isenabled(), 'frozen': frozen,\n"
        "    'again': gc.get_freeze_count(), 'walked': any(o is left for o in gc.get_objects())}))\n"
    )
    assert state["paused"] == [False, [10_000, 10, 10]]
    assert state["on"] and state["frozen"] > 0 and state["again"] == state["frozen"]
    assert not state["walked"]  # frozen objects are no longer in any collected generation


def _command(args: list[str]) -> dict:
    """Run `main()` with `args`; the collector's state afterwards, and whether the n-gram
    model's kernel was frozen: its compiled code (a Numba overload, made on the first
    call) loaded while the collector was paused."""
    return _python(
        "import gc, json, sys\n"
        f"sys.argv = ['bytepatch', *{args!r}]\n"
        "from bytepatch.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code in (None, 0), exc.code\n"
        "k = sys.modules.get('bytepatch.entropy.ngram_kernels')\n"
        "loaded = k is not None and bool(k.ngram_entropies_only_serial.signatures)\n"
        "code = list(k.ngram_entropies_only_serial.overloads.values()) if loaded else []\n"
        "walked = any(o is c for c in code for o in gc.get_objects())\n"
        "kinds = len(k.ngram_entropies_only_serial.signatures) if loaded else 0\n"
        "print(json.dumps({'on': gc.isenabled(), 'frozen': gc.get_freeze_count(), 'loaded': loaded, 'walked': walked,\n"
        "    'kinds': kinds}))\n"
    )


def test_segment_resumes_the_collector_once_its_kernels_are_loaded(tmp_path: Path):
    doc = tmp_path / "doc.txt"
    doc.write_text("A short document, patched with the default entropy model.\n")
    state = _command(["segment", str(doc), "-o", str(tmp_path / "out"), "-q", "--threads", "1"])
    assert state["on"] and state["frozen"] > 0
    assert state["loaded"] and not state["walked"]  # loaded before the freeze: never walked again
    assert state["kinds"] == 1  # the warm-up's argument types are the run's: nothing left to load


def test_segment_with_a_model_free_rule_resumes_it_too(tmp_path: Path):
    doc = tmp_path / "doc.txt"
    doc.write_text("Patched at spaces.\n")
    state = _command(["segment", str(doc), "-o", str(tmp_path / "out"), "-q", "--patcher", "space"])
    assert state["on"] and state["frozen"] > 0 and not state["loaded"]  # and no Numba for it


def test_other_commands_resume_it_before_they_run():
    state = _command(["inspect", "--text", "Collected as usual.", "--patcher", "space", "--no-color"])
    assert state["on"] and state["frozen"] > 0
