"""`--workers N`: shard-sized chunks patched and written in N worker processes.

Each worker has its own pipe, and the main thread sends it one chunk at a time, only
when it is idle; results come back in any order and are handed on in input order.
`multiprocessing.Pool` was used before, but it sends tasks from a background thread:
a chunk (up to a shard, far larger than a pipe's buffer) could leave that thread
blocked in a write when Ctrl-C terminated the workers, and `Pool.terminate` then waited
for it forever. Here nothing but the main thread writes to a worker, so an interrupt
kills the workers and returns.

Workers ignore SIGINT (Ctrl-C reaches the whole process group): the parent alone
handles it and stops them, so an interrupt prints one line, not a traceback per
worker. A signal ignored at exec stays ignored, so each worker is started with SIGINT
ignored for the moment of its spawn, before `worker_writer` ignores it for good.

Only the parent, which holds the output directory's lock, puts files under final
names: a worker writes its shard complete and fsync'ed under a temporary name and the
parent renames it when the result arrives. A worker whose parent was killed (SIGTERM
from a scheduler, SIGKILL) therefore never lands a shard in a directory that a later
run may own by then; on Linux the kernel also kills it when the parent dies
(`PR_SET_PDEATHSIG`), and elsewhere it stops at the closed pipe, dropping its temporary.

Workers are forked on Linux when nothing in the process makes that unsafe, after the
parent has loaded the model and the kernels once (`start_method`, `warm_up`), and spawned
otherwise. A forked worker starts from the parent's handlers: it puts SIGTERM and SIGHUP
back to their defaults, as a spawned one has them.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Iterable, Iterator

from bytepatch.dataset.manifest import ShardInfo
from bytepatch.entropy.registry import CORE_KINDS
from bytepatch.entropy.source import SharedModel
from bytepatch.errors import OutputError
from bytepatch.segment.chunks import Chunk
from bytepatch.segment.worker import PendingShard, ShardJob, warm_up, worker_writer
from bytepatch.signals import STOP_SIGNALS, blocked

POLL_S = 0.25  # how often the progress line is refreshed while workers run
# Blocked while a worker starts (SIGINT is ignored then instead: the parent handles it).
_OTHER_STOP_SIGNALS = [sig for sig in STOP_SIGNALS if sig != signal.SIGINT]


def run_in_processes(
    chunks: Iterable[Chunk], job: ShardJob, workers: int, on_patched: Callable[[int], None] = lambda n: None
) -> Iterator[ShardInfo]:
    """Patch and write every chunk in `workers` processes; yields their shards in input
    order. `on_patched` gets the bytes patched by all workers so far, every POLL_S."""
    ctx = multiprocessing.get_context(_start_method_after_warm_up(job))
    patched = ctx.Value("q", 0)  # bytes patched by all workers, for the progress line
    pool = _Workers(ctx, workers, job, patched)
    try:
        yield from pool.run(chunks, lambda: on_patched(int(patched.value)))
        pool.close()
    finally:
        pool.kill()  # after an error or an interrupt; a no-op once closed


def start_method(job: ShardJob) -> str:
    """The start method for workers: "fork" where it is safe, else "spawn".

    A forked worker shares the parent's pages: interpreter, NumPy, Numba's loaded kernels,
    the model (2 workers took ~1.15x the memory of one run, against 1.5x spawned, where
    each worker re-imports everything), and it starts without ~0.5 s of imports. Safe
    means: Linux (macOS's system libraries are not fork-safe); no torch in the process
    (a forked torch/OpenMP runtime can deadlock), nor a model that would load it; Numba's
    thread pool not started here (with GNU OpenMP, a forked child that runs a parallel
    kernel aborts); and no other Python thread, which could hold a lock the child
    inherits locked.
    """
    if not sys.platform.startswith("linux") or "torch" in sys.modules or _numba_pool_started():
        return "spawn"
    if threading.active_count() > 1 or not _model_is_core(getattr(job.patcher, "model", None)):
        return "spawn"
    return "fork"


def _start_method_after_warm_up(job: ShardJob) -> str:
    if start_method(job) != "fork":
        return "spawn"
    warm_up(job)
    return start_method(job)  # a model's first load may build its tables on Numba's pool


def _numba_pool_started() -> bool:
    if "numba" not in sys.modules:
        return False
    try:
        from numba.np.ufunc import parallel
    except ImportError:  # another Numba layout: assume the worst
        return True
    return bool(getattr(parallel, "_is_initialized", True))


def _model_is_core(model: Any) -> bool:
    """No model, or one of the core kinds (NumPy and Numba only)."""
    if model is None:
        return True
    return isinstance(model, SharedModel) and model.kind in CORE_KINDS


class _Workers:
    """N worker processes and the pipe to each (`run` feeds them, `close` or `kill` ends them)."""

    def __init__(self, ctx: Any, n: int, job: ShardJob, patched: Any) -> None:
        self.procs: list[Any] = []
        self.conns: list[Connection] = []
        try:
            for _ in range(n):
                here, there = ctx.Pipe()
                # A forked worker inherits this side of its own pipe and of the earlier workers':
                # it closes them, so that it sees its pipe close if this process goes away.
                forked = ctx.get_start_method() == "fork"
                inherited = [c.fileno() for c in [*self.conns, here]] if forked else []
                proc = ctx.Process(target=_serve, args=(there, job, patched, os.getpid(), inherited), daemon=True)
                _start_ignoring_sigint(proc)
                there.close()
                self.procs.append(proc)
                self.conns.append(here)
        except BaseException:
            self.kill()
            raise

    def run(self, chunks: Iterable[Chunk], on_wait: Callable[[], None]) -> Iterator[ShardInfo]:
        idle = list(range(len(self.procs)))
        busy: dict[int, int] = {}  # worker -> chunk index it holds
        done: dict[int, ShardInfo] = {}
        order: list[int] = []  # chunk indices in input order, not yet yielded
        todo = iter(chunks)
        more = True
        while more or busy:
            while more and idle:
                chunk = next(todo, None)
                if chunk is None:
                    more = False
                    break
                w = idle.pop()
                try:
                    self.conns[w].send(chunk)  # one chunk per worker: it reads it at once
                except OSError:  # a broken pipe: the worker is gone
                    raise self._died(w) from None
                busy[w] = chunk.index
                order.append(chunk.index)
                del chunk
            if busy:
                for w in self._ready(busy, on_wait):
                    done[busy.pop(w)] = self._result(w)
                    idle.append(w)
            while order and order[0] in done:
                yield done.pop(order.pop(0))

    def _ready(self, busy: dict[int, int], on_wait: Callable[[], None]) -> list[int]:
        by_conn = {self.conns[w]: w for w in busy}
        while True:
            ready = wait(list(by_conn), timeout=POLL_S)
            on_wait()
            if ready:
                return [by_conn[c] for c in ready]

    def _result(self, w: int) -> ShardInfo:
        try:
            status, value = self.conns[w].recv()
        except (EOFError, OSError):
            raise self._died(w) from None
        if status == "error":
            raise value
        value.publish()
        return value.info

    def _died(self, w: int) -> OutputError:
        proc = self.procs[w]
        proc.join(timeout=5)
        return OutputError(
            f"worker process {proc.pid} died (exit code {proc.exitcode}) while writing a shard; "
            "rerun with --resume (out of memory? try fewer --workers or a smaller --shard-size-mb)"
        )

    def close(self) -> None:
        """Let every worker finish and exit."""
        for conn in self.conns:
            try:
                conn.send(None)
            except OSError:
                pass
        for proc in self.procs:
            proc.join()
        self._close_conns()

    def kill(self) -> None:
        for proc in self.procs:
            if proc.is_alive():
                proc.kill()
        for proc in self.procs:
            proc.join()
        self._close_conns()

    def _close_conns(self) -> None:
        for conn in self.conns:
            conn.close()
        self.conns = []
        self.procs = []


def _start_ignoring_sigint(proc: Any) -> None:
    """Start `proc` with SIGINT ignored and the other stop signals blocked: a forked worker
    runs the parent's Python handlers until `_serve` puts the defaults back, so a SIGTERM
    in that moment waits, blocked, and then kills it as it would a spawned one (the mask
    survives both fork and exec)."""
    if threading.current_thread() is not threading.main_thread():
        with blocked(_OTHER_STOP_SIGNALS):
            proc.start()  # only the main thread may change handlers; worker_writer ignores it soon
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with blocked(_OTHER_STOP_SIGNALS):
            proc.start()
    finally:
        # Put back only what it set: a stop signal during the spawn may have changed the
        # handlers (the CLI then ignores further ones while it cleans up).
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            signal.signal(signal.SIGINT, previous)


def _serve(conn: Connection, job: ShardJob, patched: Any, parent: int, inherited: list[int]) -> None:
    """A worker: chunks in, ("ok", PendingShard) or ("error", exception) out, until None or
    EOF. `parent`: the pid of the process that started it; `inherited`: file descriptors
    a forked worker holds but must not (the parent's ends of the workers' pipes)."""
    _die_with_parent(parent)
    for fd in inherited:
        os.close(fd)
    _default_stop_handlers()
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _OTHER_STOP_SIGNALS)  # blocked by the parent for the start
    writer = worker_writer(job, patched)
    while True:
        try:
            chunk = conn.recv()
        except EOFError:
            return
        if chunk is None:
            return
        try:
            reply: tuple[str, Any] = ("ok", writer.write_unpublished(chunk))
        except Exception as exc:  # noqa: BLE001 - handed to the parent, which raises it
            reply = ("error", exc)
        del chunk
        try:
            conn.send(reply)
        except OSError:  # the parent is gone: its shard must not outlive it, even unnamed
            if isinstance(reply[1], PendingShard):
                reply[1].discard()
            return
        except Exception:  # noqa: BLE001 - an exception that does not pickle
            conn.send(("error", RuntimeError(f"{type(reply[1]).__name__}: {reply[1]}")))


def _default_stop_handlers() -> None:
    """A forked worker inherits the parent's Python handlers for SIGTERM and SIGHUP, which
    would run the parent's clean-up in it: put back the default that a spawned worker
    has (the signal kills it; the parent sees it die). Ignored ones stay ignored."""
    for sig in _OTHER_STOP_SIGNALS:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, signal.SIG_DFL)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent: int) -> None:
    """On Linux, ask the kernel to SIGKILL this worker when its parent dies, however it
    dies (a killed parent runs no cleanup). The request follows the thread that started
    the worker, which is the thread iterating `run_in_processes`: it outlives the pool."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # no prctl (another libc): the closed pipe stops it
        return
    if os.getppid() != parent:  # it died before the request was made
        os._exit(1)
