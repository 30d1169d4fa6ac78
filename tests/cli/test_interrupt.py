"""Ctrl-C during entropy `segment`, with one worker and with several: exit 130, one line.

A real SIGINT is sent to the whole process group, as a terminal's Ctrl-C is, while
shards are being patched (mostly inside the Numba n-gram kernels), at several moments.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import pytest

BIN = [sys.executable, "-m", "bytepatch.cli.main", "segment"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """About 48 MB of real text (the stdlib sources, twelve times) as one JSONL file: enough
    work left after the first shard (entropy segment runs at ~15-40 MB/s per core) that no
    machine finishes before the signal."""
    import sysconfig

    path = tmp_path_factory.mktemp("corpus") / "code.jsonl"
    size = 0
    with open(path, "w", encoding="utf-8") as f:
        for copy in range(12):
            for src in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
                text = src.read_text(encoding="utf-8", errors="replace")
                f.write(json.dumps({"text": text, "id": f"{copy}/{src.name}"}) + "\n")
                size += len(text)
                if size > 4e6 * (copy + 1):
                    break
    return path


def _is_shard(path: Path) -> bool:
    """A shard or a shard's temporary: patching has begun (the run state's temporary,
    `.bytepatch-run.json.*.tmp`, comes before the run can be resumed)."""
    return path.name.startswith(("train-", ".train-")) and path.suffix in (".arrow", ".parquet", ".tmp")


def interrupt(cmd: list[str], out: Path, delay: float) -> tuple[int, str]:
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not out.exists() or not any(_is_shard(p) for p in out.iterdir()):  # patching began
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(delay)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("delay", [0.0, 0.3, 0.9])
def test_ctrl_c_exits_130_with_one_line_and_no_manifest(
    tmp_path: Path, corpus: Path, workers: int, delay: float
) -> None:
    out = tmp_path / "out"
    cmd = [*BIN, str(corpus), "-o", str(out), "--shard-size-mb", "0.2", "--workers", str(workers)]
    code, err = interrupt(cmd, out, delay)
    lines = [line for line in err.splitlines() if line.strip() and "\r" not in line]
    assert code == 130, err
    assert lines == ["interrupted: no manifest written; finish with --resume"], err
    assert not (out / "manifest.json").exists() and not list(out.glob(".*.tmp"))


def _children(pid: int) -> list[int]:
    """The worker processes whose parent is `pid` (Linux /proc), not multiprocessing's
    resource tracker, which leaves on its own once its parent's pipe closes."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid and b"resource_tracker" not in cmdline:  # forked or spawned
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_and_wait_for_patching(cmd: list[str], out: Path, workers: int) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while (
        not out.exists()
        or not any(_is_shard(p) for p in out.iterdir())
        or (workers > 1 and len(_children(proc.pid)) < workers)
    ):
        assert proc.poll() is None, "the run ended before it could be stopped"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return proc


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_stops_like_ctrl_c(tmp_path: Path, corpus: Path, workers: int) -> None:
    """What `timeout`, Slurm and `docker stop` send, to the main process only: the same
    clean stop as Ctrl-C (exit 128 + 15), workers stopped, no temporaries."""
    out = tmp_path / "out"
    cmd = [*BIN, str(corpus), "-o", str(out), "--shard-size-mb", "0.2", "--workers", str(workers)]
    proc = _start_and_wait_for_patching(cmd, out, workers)
    children = _children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.strip() and "\r" not in line]
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert lines == ["interrupted: no manifest written; finish with --resume"], err
    assert not (out / "manifest.json").exists() and not list(out.glob(".*.tmp"))
    assert not [pid for pid in children if _alive(pid)]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers die with their parent on Linux")
def test_workers_of_a_killed_run_die_with_it_and_land_no_shard(tmp_path: Path, corpus: Path) -> None:
    """SIGKILL gives the main process no clean-up: its workers must not go on and put
    shards under final names in a directory that the next run may own by then."""
    out = tmp_path / "out"
    cmd = [*BIN, str(corpus), "-o", str(out), "--shard-size-mb", "4", "--workers", "2", "-q"]
    proc = _start_and_wait_for_patching(cmd, out, 2)
    workers = _children(proc.pid)
    proc.kill()
    proc.wait()
    landed = {p.name: p.stat().st_mtime_ns for p in out.glob("train-*.arrow")}
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers):
        assert time.monotonic() < deadline, "the workers outlived their parent"
        time.sleep(0.05)
    time.sleep(0.5)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("train-*.arrow")} == landed


def test_a_second_signal_does_not_break_the_clean_up_of_the_first():
    from bytepatch.cli._interrupt import exit_on_interrupt

    cleaned = []
    before = signal.getsignal(signal.SIGTERM)  # not always SIG_DFL: an earlier test may have set one
    with pytest.raises(SystemExit) as info:
        with exit_on_interrupt("interrupted"):
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)  # interrupted here
            except KeyboardInterrupt:
                os.kill(os.getpid(), signal.SIGTERM)  # during the clean-up: ignored
                time.sleep(0.05)
                cleaned.append(True)
                raise
    assert info.value.code == 130 and cleaned
    assert signal.getsignal(signal.SIGTERM) is before  # put back afterwards


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP")
def test_a_signal_ignored_before_stays_ignored():
    """`nohup` ignores SIGHUP: a run under it must not stop when the terminal closes."""
    from bytepatch.cli._interrupt import exit_on_interrupt

    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with exit_on_interrupt("interrupted"):
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.05)
    finally:
        signal.signal(signal.SIGHUP, before)


def _call_from_c(function) -> None:
    """Call `function` back from C through ctypes, as llvmlite calls Numba's object cache:
    libc's qsort with it as the comparison of two items."""
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    compare = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)

    def callback(a, b):
        function()
        return 0

    items = (ctypes.c_int * 2)(2, 1)
    libc.qsort(items, 2, ctypes.sizeof(ctypes.c_int), compare(callback))


def _signal_in_callback(filename: str) -> None:
    """Send SIGTERM from code whose frames look like `filename`'s, called back from C;
    the handler runs there, at the callback's next check."""
    code = compile("import os, signal\ndef send():\n    os.kill(os.getpid(), signal.SIGTERM)\n", filename, "exec")
    space: dict = {}
    exec(code, space)

    def send_and_spin():
        space["send"]()
        for _ in range(1000):  # the handler's checks come between instructions
            pass

    _call_from_c(send_and_spin)


@pytest.mark.skipif(sys.platform == "win32", reason="libc qsort through ctypes")
def test_a_signal_handled_inside_llvmlites_callback_is_put_off_until_after_it():
    """An exception raised inside a ctypes callback is printed and dropped: the run went on
    to the end and ignored every later signal. Numba loading a kernel runs llvmlite's."""
    from bytepatch.cli._interrupt import exit_on_interrupt

    after = []
    with pytest.raises(SystemExit) as info:
        with exit_on_interrupt("interrupted"):
            _signal_in_callback(os.path.join(os.sep, "site-packages", "llvmlite", "binding", "fake.py"))
            after.append("back from C")
            time.sleep(5)  # interrupted here, at the latest
    assert info.value.code == 128 + signal.SIGTERM and after == ["back from C"]


@pytest.mark.skipif(sys.platform == "win32", reason="libc qsort through ctypes")
def test_a_signal_dropped_in_another_librarys_callback_stops_the_run_after_it(capfd):
    """Python drops the KeyboardInterrupt raised there (`sys.unraisablehook`): the run went
    on to its end. Now it is acted on once the callback has returned, and not printed."""
    from bytepatch.cli._interrupt import exit_on_interrupt

    after = []
    with pytest.raises(SystemExit) as info:
        with exit_on_interrupt("interrupted"):
            _signal_in_callback(os.path.join(os.sep, "elsewhere", "lib.py"))
            after.append("back from C")
            time.sleep(5)  # interrupted here, at the latest
    assert info.value.code == 128 + signal.SIGTERM and after == ["back from C"]
    assert "Exception ignored" not in capfd.readouterr().err


def test_a_signal_handled_inside_a_weakref_callback_stops_the_run_after_it(capfd):
    """Numba disposing of its types runs weakref callbacks (`_on_type_disposal`): a Ctrl-C
    put off while it loaded kernels landed in one, was dropped, and the run went on to its
    end with exit 0 (`test_ctrl_c_while_numba_loads_a_kernel_stops_the_run`, now and then)."""
    from bytepatch.cli._interrupt import exit_on_interrupt

    class Kernel:
        pass

    def disposed(_ref) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler's checks come between instructions
            pass

    after = []
    with pytest.raises(SystemExit) as info:
        with exit_on_interrupt("interrupted"):
            kernel = Kernel()
            ref = weakref.ref(kernel, disposed)
            del kernel  # the callback runs here
            after.append("after the callback")
            time.sleep(5)  # interrupted here, at the latest
    assert info.value.code == 128 + signal.SIGTERM and after == ["after the callback"] and ref() is None
    assert "Exception ignored" not in capfd.readouterr().err


def test_a_signal_swallowed_by_other_code_is_said_when_the_run_ends(capsys):
    """Code that catches everything (or C code that clears the error) loses it for good:
    the run goes on to its end, and the command says so."""
    from bytepatch.cli._interrupt import exit_on_interrupt

    with exit_on_interrupt("interrupted"):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # interrupted here
        except BaseException:  # noqa: BLE001 - what such code does
            pass
    assert "note: a stop signal (SIGTERM) came where it could not stop the run" in capsys.readouterr().err


def test_other_unraisable_exceptions_still_reach_the_previous_hook() -> None:
    from bytepatch.cli._interrupt import exit_on_interrupt

    seen = []
    previous, sys.unraisablehook = sys.unraisablehook, lambda u: seen.append(type(u.exc_value))
    try:
        with exit_on_interrupt("interrupted"):

            class Broken:
                def __del__(self):
                    raise ValueError("in __del__")

            Broken()
        assert seen == [ValueError]
    finally:
        sys.unraisablehook = previous
    assert sys.unraisablehook is previous


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_while_numba_loads_a_kernel_stops_the_run(tmp_path: Path, corpus: Path, workers: int) -> None:
    """Numba's object cache calls back into Python from LLVM, on the main thread while it
    loads the first kernels (with --workers, before the workers are forked)."""
    import bytepatch

    # The model's derived tables in the run's table cache, as any earlier run leaves them:
    # built in the run, they are Numba's first kernels, before the output exists, and the
    # line is "nothing written" (this test passed only after another had built them).
    bytepatch.load_patcher("entropy").patch_lengths(b"warm the table cache")
    script = tmp_path / "run.py"
    script.write_text(
        "import os, signal, sys\n"
        "from numba.core import codegen\n"
        "hook = codegen.JITCodeLibrary._object_compiled_hook.__func__\n"
        "sent = []\n"
        "def signalling(cls, module, buf):\n"
        "    if not sent:\n"
        "        sent.append(1)\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "    return hook(cls, module, buf)\n"
        "codegen.JITCodeLibrary._object_compiled_hook = classmethod(signalling)\n"
        "from bytepatch.cli.main import cli\n"
        "if __name__ == '__main__':\n"
        "    cli(sys.argv[1:])\n"
    )
    out = tmp_path / "out"
    args = ["segment", str(corpus), "-o", str(out), "--workers", str(workers), "--threads", "1", "-q"]
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 130, proc.stderr
    assert "interrupted: no manifest written" in proc.stderr and "ctypes callback" not in proc.stderr
    assert not (out / "manifest.json").exists() and not list(out.glob(".*.tmp"))


def test_ctrl_c_before_a_command_handles_it_ends_the_run_even_inside_an_import_callback(tmp_path: Path):
    """Importlib calls back from weakref callbacks, where a raised SystemExit is printed and
    dropped: the command ran on (or hung on a module lock). Code whose frames look like
    importlib's, run from a weakref callback, receives the Ctrl-C here."""
    script = tmp_path / "run.py"
    script.write_text(
        "import os, signal, sys, weakref\n"
        "from bytepatch.cli import main as entry\n"
        "signal.signal(signal.SIGINT, entry._interrupted)  # what main() installs first\n"
        "code = compile('import os, signal\\ndef send():\\n    os.kill(os.getpid(), signal.SIGINT)\\n"
        "    for _ in range(1000): pass\\n', '<frozen importlib._bootstrap>', 'exec')\n"
        "space = {}\n"
        "exec(code, space)\n"
        "class Thing: pass\n"
        "thing = Thing()\n"
        "ref = weakref.ref(thing, lambda r: space['send']())\n"
        "del thing  # the callback runs here\n"
        "print('ran on')\n"
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 130 and "ran on" not in proc.stdout, (proc.stdout, proc.stderr)
    assert proc.stderr.strip() == "interrupted", proc.stderr


def _stop_and_read(proc: subprocess.Popen) -> tuple[int, list[str]]:
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, [line for line in err.splitlines() if line.strip()]


def _stop_while_calibrating(tmp_path: Path, *args: str) -> tuple[int, list[str]]:
    """Ctrl-C to `segment --target-patch-size 4 ARGS` while calibration reads its input: (exit
    status, stderr's non-blank lines). The input is gzip JSONL, 0.3 GB of text in 2 MB, which
    calibration decompresses to reach its spread sample, so it holds the file open for a
    second or more; the signal goes as soon as /proc shows it open. (A FIFO, which blocked
    calibration for as long as needed, is refused up front since calibration would empty it.)"""
    corpus = tmp_path / "corpus.jsonl.gz"
    line = (json.dumps({"text": "The quick brown fox jumps over the lazy dog. " * 40}) + "\n").encode()
    with gzip.open(corpus, "wb", compresslevel=1) as f:
        for _ in range(3):
            f.write(line * 60_000)
    cmd = [*BIN, str(corpus), "--target-patch-size", "4", *args, "-q"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, start_new_session=True)
    fds = Path("/proc") / str(proc.pid) / "fd"
    deadline = time.monotonic() + 60
    while not _holds_open(fds, corpus):
        assert proc.poll() is None and time.monotonic() < deadline, "calibration never opened the input"
        time.sleep(0.001)
    return _stop_and_read(proc)


def _holds_open(fds: Path, path: Path) -> bool:
    try:
        return any(os.readlink(fd) == str(path) for fd in fds.iterdir())
    except OSError:  # a descriptor closed while listed
        return False


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="reads /proc")
def test_ctrl_c_before_the_output_exists_does_not_advise_resume(tmp_path: Path) -> None:
    """Calibration reads the inputs before the output is made: `--resume` would answer
    "nothing to resume", so the line must not send the user there."""
    out = tmp_path / "out"
    code, lines = _stop_while_calibrating(tmp_path, "-o", str(out))
    assert code == 130, lines
    assert not out.exists()
    assert lines == ["interrupted: nothing written; run the command again"], lines


def test_ctrl_c_while_reading_stdin_does_not_advise_resume(tmp_path: Path) -> None:
    """`--resume cannot replay stdin`: an interrupted run from `-` is run again, not resumed."""
    out = tmp_path / "out"
    cmd = [*BIN, "-", "-o", str(out), "--input-format", "jsonl", "--patcher", "space", "-q"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not (out / ".bytepatch-run.json").exists():  # the run is reading stdin now
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.2)
    code, lines = _stop_and_read(proc)
    assert code == 130, lines
    assert lines == [
        "interrupted: no manifest written; --resume cannot replay stdin: run the command again with --overwrite"
    ], lines
    assert not (out / "manifest.json").exists()


@pytest.mark.parametrize("signals", [("SIGINT", "SIGTERM"), ("SIGTERM", "SIGINT"), ("SIGHUP",)])
def test_a_stop_signal_while_a_finished_command_exits_is_a_clean_exit(tmp_path: Path, signals) -> None:
    """Stop signals sent while a finished run exits (here from an atexit callback, the
    last to run, as a late Ctrl-C then `timeout`'s SIGTERM landed after `train` had
    saved and said its summary): the start-up handler, put back when the command left,
    raised SystemExit(130) inside the callback ("Exception ignored in atexit callback",
    a traceback), and SIGTERM killed the process. The output is complete: exit 0, quietly."""
    script = tmp_path / "run.py"
    script.write_text(
        "import atexit, os, signal, sys\n"
        "from bytepatch.cli import main as entry\n"
        "def late_signals():  # registered before the command's own: runs last\n"
        f"    for name in {list(signals)!r}:\n"
        "        os.kill(os.getpid(), getattr(signal, name))\n"
        "        for _ in range(1000): pass  # Python runs its handler here\n"
        "    print('exit went on')\n"
        "atexit.register(late_signals)\n"
        "sys.argv = ['bytepatch', *sys.argv[1:]]\n"
        "entry.main()\n"
    )
    corpus = tmp_path / "in.txt"
    corpus.write_text("a few words, then some more. " * 20)
    out = tmp_path / "out"
    args = ["segment", str(corpus), "-o", str(out), "--patcher", "space", "-q"]
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stderr, proc.stdout) == (0, "", ""), proc.stderr
    assert (out / "manifest.json").exists()


def test_a_stop_signal_while_a_failed_command_exits_keeps_its_status(tmp_path: Path) -> None:
    """The same, after a command that failed: its one-line error and exit 1 stand."""
    script = tmp_path / "run.py"
    script.write_text(
        "import atexit, os, signal, sys\n"
        "from bytepatch.cli import main as entry\n"
        "atexit.register(lambda: (os.kill(os.getpid(), signal.SIGINT), [0 for _ in range(1000)]))\n"
        "sys.argv = ['bytepatch', *sys.argv[1:]]\n"
        "entry.main()\n"
    )
    args = ["segment", str(tmp_path / "missing.txt"), "-o", str(tmp_path / "out"), "--patcher", "space"]
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=120)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and len(lines) == 1 and "missing.txt" in lines[0], proc.stderr


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="reads /proc")
def test_ctrl_c_before_an_overwrite_replaced_the_old_run_does_not_advise_resume(tmp_path: Path) -> None:
    """The run state on disk was an earlier, finished run's: `--resume` would resume that one
    (or refuse, its settings differing), so the line must not send the user there."""
    out = tmp_path / "out"
    (tmp_path / "old.txt").write_text("an earlier run's text\n")
    earlier = subprocess.run([*BIN, str(tmp_path / "old.txt"), "-o", str(out), "--patcher", "space", "-q"])
    assert earlier.returncode == 0 and (out / ".bytepatch-run.json").exists()
    code, lines = _stop_while_calibrating(tmp_path, "-o", str(out), "--overwrite")
    assert code == 130, lines
    assert lines == ["interrupted: nothing written; run the command again"], lines


LATE_STOP = """
import os, signal, sys
import bytepatch.segment.pipeline as pipeline
finish = pipeline.finish
def finish_then_stop(layout, merge):  # the signal lands once the dataset's manifest may be written
    manifest = finish(layout, merge)
    os.kill(os.getpid(), getattr(signal, os.environ["LATE_SIGNAL"]))
    for _ in range(1000): pass  # Python runs its handler here
    return manifest
pipeline.finish = finish_then_stop
from bytepatch.cli import main as entry
sys.argv = ["bytepatch", *sys.argv[1:]]
entry.main()
"""


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_stop_signal_once_the_manifest_is_written_says_the_output_is_complete(tmp_path: Path, name: str) -> None:
    """A signal after the run wrote manifest.json, before the command returned: the run said
    "interrupted: no manifest written; finish with --resume" and exited 130 beside a complete
    dataset. Now it says the output is complete and exits 0. A job of K that is not the last
    wrote no manifest.json: it still says to finish with --resume (which merges)."""
    script = tmp_path / "late.py"
    script.write_text(LATE_STOP)
    env = {**os.environ, "LATE_SIGNAL": name}
    corpus = tmp_path / "in.txt"
    corpus.write_text("a few words, then some more. " * 20)
    out = tmp_path / "out"
    args = ["segment", str(corpus), "-o", str(out), "--patcher", "space", "-q"]
    for extra in ([], ["--overwrite"], ["--resume"]):  # a run, a rerun, a resume of a finished run
        proc = subprocess.run([sys.executable, str(script), *args, *extra], capture_output=True, text=True, env=env)
        note = f"note: a stop signal ({name}) came once the run had written its output, which is complete"
        assert (proc.returncode, proc.stderr.splitlines()) == (0, [note]), proc.stderr
    from bytepatch import open_dataset

    assert [r.id for r in open_dataset(out)] == ["in.txt"]
    jobs = tmp_path / "jobs"
    job = ["segment", str(corpus), str(tmp_path / "script.py"), "-o", str(jobs), "--patcher", "space", "-q"]
    (tmp_path / "script.py").write_text("a second input, for the second job")
    first = subprocess.run(
        [sys.executable, str(script), *job, "--num-shards", "2", "--shard-index", "0"],
        capture_output=True,
        text=True,
        env=env,
    )
    code = 128 + getattr(signal, name)
    assert (first.returncode, first.stderr.strip()) == (code, "interrupted: no manifest written; finish with --resume")
    last = subprocess.run(
        [sys.executable, str(script), *job, "--num-shards", "2", "--shard-index", "1"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert last.returncode == 0 and "which is complete" in last.stderr, last.stderr
    assert sorted(r.id for r in open_dataset(jobs)) == ["in.txt", "script.py"]


LATE_STOP_RAY = """
import os, signal, sys
import bytepatch.segment.ray_engine as ray_engine
write_json = ray_engine.write_json
def write_then_stop(path, data):  # the signal lands once the dataset's manifest is written
    write_json(path, data)
    os.kill(os.getpid(), getattr(signal, os.environ["LATE_SIGNAL"]))
    for _ in range(1000): pass  # Python runs its handler here
ray_engine.write_json = write_then_stop
from bytepatch.cli import main as entry
sys.argv = ["bytepatch", *sys.argv[1:]]
entry.main()
"""


@pytest.mark.slow  # starts a local Ray instance per run
def test_a_stop_signal_once_a_ray_run_wrote_its_manifest_says_the_output_is_complete(tmp_path: Path) -> None:
    """As for a local run: with --engine ray, a signal after manifest.json was written said
    "interrupted: no manifest written; ... rerun with --overwrite" and exited 130 beside a
    complete dataset (the advice for Ray came before looking for the manifest)."""
    pytest.importorskip("ray", reason="pip install 'ray[data]' (the test extra installs it)")
    script = tmp_path / "late.py"
    script.write_text(LATE_STOP_RAY)
    env = {**os.environ, "LATE_SIGNAL": "SIGINT"}
    corpus = tmp_path / "in.txt"
    corpus.write_text("a few words, then some more. " * 20)
    out = tmp_path / "out"
    args = ["segment", str(corpus), "-o", str(out), "--patcher", "space", "-q", "--engine", "ray", "--ray-actors", "1"]
    for extra in ([], ["--overwrite"]):  # a run, a rerun over the finished dataset
        proc = subprocess.run([sys.executable, str(script), *args, *extra], capture_output=True, text=True, env=env)
        lines = [line for line in proc.stderr.splitlines() if "core_worker.cc" not in line]  # see test_ray_console
        note = "note: a stop signal (SIGINT) came once the run had written its output, which is complete"
        assert (proc.returncode, lines) == (0, [note]), proc.stderr
    from bytepatch import open_dataset

    assert [r.id for r in open_dataset(out)] == ["in.txt"]


TEARDOWN = """
import os, signal, sys
class Late:  # a global of __main__: deleted as the interpreter tears its modules down, after atexit
    def __del__(self):
        os.kill(os.getpid(), getattr(signal, os.environ["LATE_SIGNAL"]))
        for _ in range(1000): pass
late = Late()
from bytepatch.cli import main as entry
entry.COMMANDS["segment"] = "late_command:segment"  # imported once main() runs, as commands are
sys.argv = ["bytepatch", *sys.argv[1:]]
entry.main()
"""

LATE_COMMAND = """
import atexit, sys
from bytepatch.cli.segment import segment
atexit.register(lambda: print("atexit ran", file=sys.stderr))  # a callback of the command's, as Ray's, torch's
"""


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_stop_signal_while_the_interpreter_tears_down_after_a_finished_run_is_a_clean_exit(
    tmp_path: Path, name: str
) -> None:
    """After the atexit callbacks the interpreter puts the default signal handlers back and
    tears its modules down (100-300 ms after a segment run), and a stop signal there killed
    the process (exit -15 / -2) after a finished run with complete output. Now the process
    ends after the last atexit callback, with the command's status; the command's own
    atexit callbacks still run."""
    script = tmp_path / "teardown.py"
    script.write_text(TEARDOWN)
    (tmp_path / "late_command.py").write_text(LATE_COMMAND)
    corpus = tmp_path / "in.txt"
    corpus.write_text("a few words, then some more. " * 20)
    out = tmp_path / "out"
    args = ["segment", str(corpus), "-o", str(out), "--patcher", "space", "-q"]
    env = {**os.environ, "LATE_SIGNAL": name}
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env, timeout=120)
    assert (proc.returncode, proc.stderr, proc.stdout) == (0, "atexit ran\n", ""), proc.stderr
    assert (out / "manifest.json").exists()
    failed = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env, timeout=120)
    lines = failed.stderr.splitlines()
    assert failed.returncode == 1 and len(lines) == 2 and "not empty" in lines[0], failed.stderr  # its status stands
    assert lines[1] == "atexit ran"


STOP_IN_IMPORT = """
import importlib.abc, os, signal, sys
class StopOnImport(importlib.abc.MetaPathFinder):  # the signal lands inside the import of pandas
    fired = False
    def find_spec(self, name, path=None, target=None):
        if name == "pandas" and not StopOnImport.fired:
            StopOnImport.fired = True
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000): pass  # Python runs its handler here, inside the import
        return None
sys.meta_path.insert(0, StopOnImport())
from bytepatch.cli import main as entry
sys.argv = ["bytepatch", *sys.argv[1:]]
entry.main()
"""


@pytest.mark.parametrize("kind", ["parquet", "arrow"])
def test_ctrl_c_inside_an_import_that_arrow_makes_stops_the_run(tmp_path: Path, kind: str) -> None:
    """Arrow imports pandas on its first conversion of a column to NumPy (reading a Parquet
    or Arrow input), from C++, and clears the import's error: a Ctrl-C that landed inside
    that import was dropped, the run went on to its end (exit 0, "came where it could not
    stop the run"), and since the first signal sets the later ones aside, no Ctrl-C could
    stop it any more. A signal inside an import is now put off until the import returns."""
    import pyarrow as pa
    import pyarrow.feather
    import pyarrow.parquet as pq

    table = pa.table({"text": [f"document {i}, a few words long" for i in range(50)]})
    corpus = tmp_path / f"in.{kind}"
    if kind == "parquet":
        pq.write_table(table, corpus)
    else:
        pyarrow.feather.write_feather(table, corpus, compression="uncompressed")
    script = tmp_path / "stop_in_import.py"
    script.write_text(STOP_IN_IMPORT)
    out = tmp_path / "out"
    args = ["segment", str(corpus), "-o", str(out), "--patcher", "space", "-q"]
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.splitlines() == ["interrupted: no manifest written; finish with --resume"], proc.stderr
    assert not (out / "manifest.json").exists() and not list(out.glob(".*.tmp"))
    resumed = subprocess.run([*BIN, str(corpus), "-o", str(out), "--patcher", "space", "-q", "--resume"])
    assert resumed.returncode == 0 and (out / "manifest.json").exists()
