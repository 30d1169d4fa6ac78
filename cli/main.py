"""Entry point of the `bytepatch` console script.

Commands are registered by module path and imported only when run, so
`bytepatch segment --patcher space` never pays for importing torch, and a
command module may import heavy libraries at its top without slowing the rest.
"""

from __future__ import annotations

import atexit
import importlib
import importlib.util
import os
import signal
import sys
import threading
from types import FrameType
from typing import MutableMapping

import click

from bytepatch import __version__
from bytepatch.cli._collector import pause_cycle_collection, resume_cycle_collection
from bytepatch.cli._interrupt import in_callback_from_c, runs_in
from bytepatch.cli._stdout import StdoutWriteError, flush_stdout, guard_standard_streams
from bytepatch.redact import redacted
from bytepatch.signals import STOP_SIGNALS

# name -> "module:attribute"; each module lives in cli/ (installed as bytepatch.cli).
COMMANDS: dict[str, str] = {
    "segment": "bytepatch.cli.segment:segment",
    "stats": "bytepatch.cli.stats:stats",
    "report": "bytepatch.cli.report:report",
    "inspect": "bytepatch.cli.inspect_cmd:inspect_cmd",
    "fit-entropy": "bytepatch.cli.entropy_cmds:fit_entropy",
    "eval-entropy": "bytepatch.cli.entropy_cmds:eval_entropy",
    "calibrate": "bytepatch.cli.entropy_cmds:calibrate",
    "train-entropy": "bytepatch.cli.train_entropy:train_entropy",
    "model-info": "bytepatch.cli.model_info:model_info",
    "train": "bytepatch.cli.train:train",
    "eval": "bytepatch.cli.eval_cmd:eval_cmd",
    "generate": "bytepatch.cli.generate:generate",
    "convert": "bytepatch.cli.convert:convert",
    "verify": "bytepatch.cli.verify:verify",
}


class LazyGroup(click.Group):
    """A click group that imports a command's module only when that command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if _available(name))

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:  # every command's error line: a URI in it shows no secret
            exc.message = redacted(exc.message)
            raise
        except BrokenPipeError:  # `bytepatch inspect FILE | head`: the reader has seen enough
            from bytepatch.cli._stdout import leave_quietly, reader_left

            if reader_left():
                leave_quietly()
            raise

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # command not built yet in this version
                return None
            raise
        return getattr(module, attr)


def _available(name: str) -> bool:
    module_name = COMMANDS[name].split(":")[0]
    return importlib.util.find_spec(module_name) is not None


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="bytepatch")
def cli() -> None:
    """bytepatch: tokenizer-free byte patching, BLT style.

    Turn corpora into patch-boundary datasets (`segment`), look at the patches
    (`inspect`, `stats`), fit entropy models and train BLT models on the result.
    """
    if click.get_current_context().invoked_subcommand != "segment":  # segment: once its kernels are loaded
        resume_cycle_collection()


def main() -> None:
    if not getattr(atexit, "_ncallbacks", lambda: 1)():  # none of a program that calls main() to run after
        atexit.register(leave_after_exit_callbacks)  # registered first: runs last
    # Ctrl-C before a command has set up its own handling (while importing it, parsing
    # options, loading a model): one line and 130, not click's "Aborted!" and exit 1.
    signal.signal(signal.SIGINT, _interrupted)
    guard_standard_streams()
    quiet_numpy_blas(os.environ)
    pause_cycle_collection()  # resumed by the command once it has started (`_collector`)
    try:
        try:
            cli()
        except SystemExit as exc:
            if status_of(exc.code) == 0:
                flush_stdout()  # the result is out, or this is the error
            raise
    except StdoutWriteError as exc:  # `cmd > /dev/full`, `cmd >&-`: the result is lost
        click.echo(f"Error: {exc}", err=True)
        exiting(1)
        raise SystemExit(1) from None
    except SystemExit as exc:
        exiting(status_of(exc.code))
        if "torch.distributed" in sys.modules and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            end_rank(exit_status(exc.code))
        raise
    except BaseException:
        exiting(1)
        raise


def exiting(status: int) -> None:
    """The command is done (its output complete, or its error said): from now on a stop
    signal ends the process at once, quietly, with the command's own `status`.

    Why: the exit still runs Python's atexit callbacks and joins threads (torch's and
    Ray's take a moment), and the handlers a command puts back on leaving are those of
    start-up: `_interrupted`'s SystemExit raised inside an atexit callback was printed
    with its traceback ("Exception ignored in atexit callback") after a finished run.
    Cutting the exit short still lets a signal stop an exit that hangs."""
    _exit_status[:] = [status]
    handled = [sig for sig in STOP_SIGNALS if signal.getsignal(sig) is not signal.SIG_IGN]  # `nohup`: stays so

    def leave(signum: int, frame: FrameType | None) -> None:
        for sig in handled:  # nor may a second signal interrupt the leaving
            signal.signal(sig, signal.SIG_IGN)
        flush_and_leave(status)

    for sig in handled:
        signal.signal(sig, leave)


_exit_status: list[int] = []  # the done command's own status, once `exiting` has it


def leave_after_exit_callbacks() -> None:
    """The last atexit callback (`main` registers it first): once the command is done, end
    the process here, with its own status, rather than tear the interpreter down.

    Why: after the atexit callbacks the interpreter puts every signal handler back to the
    default before it tears its modules down (100-300 ms after a segment run: Numba,
    pyarrow, NumPy), so a stop signal there killed the process (exit -15, -2: `timeout`
    and Slurm count a failed job) after a finished run whose output was complete, which
    `exiting` promises to end with the command's status. Nothing is left to do then:
    every output is written and closed, and the streams are flushed here. (Only where no
    atexit callback was registered before `main`, as in the console script: one that was
    runs after this one, so the process then ends as before.)"""
    if _exit_status:
        flush_and_leave(_exit_status[0])


def end_rank(status: int) -> None:
    """Exit a torchrun rank (one that imported torch.distributed) without interpreter
    shutdown, once its output is flushed.

    Why: a DDP run leaves gloo's process group alive after `destroy_process_group` (torch
    keeps a reference), and gloo's worker threads release each finished collective a
    moment after the caller has its result. Releasing one drops tensors, which needs the
    GIL; a rank that is already shutting its interpreter down then ends that thread
    inside a C++ destructor, and the process aborts after a finished run ("terminate
    called without an active exception", exit -6), which torchrun reports as a failed
    job. So the rank does what exit does up to that point (waits for its non-daemon
    threads, runs the atexit handlers, flushes its streams) and leaves before it.
    """
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    flush_and_leave(status)


def flush_and_leave(status: int) -> None:
    """Flush stdout and stderr, then end the process at once with `status` (no interpreter shutdown)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:  # None: closed when the process started
                stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(status)


def status_of(code: object) -> int:
    """The exit status `sys.exit(code)` gives: 0 for None, the number, else 1 (a message)."""
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def exit_status(code: object) -> int:
    """`status_of(code)`, printing the message to stderr as `sys.exit(code)` would."""
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
    return status_of(code)


def quiet_numpy_blas(env: MutableMapping[str, str]) -> None:
    """One OpenBLAS thread for NumPy unless the user chose otherwise. bytepatch never
    calls NumPy's BLAS, but at import OpenBLAS starts a thread per CPU that spin: about
    70 ms of CPU per process (a third of a `segment --patcher space` start-up). Must run
    before NumPy is imported (`import bytepatch` does not import it). torch's threads
    are its own, set by `--threads`."""
    env.setdefault("OPENBLAS_NUM_THREADS", "1")


def _interrupted(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    click.echo("interrupted", err=True)
    if runs_in(frame, lambda name: name.startswith("<frozen importlib")) or in_callback_from_c(frame):
        # An exception raised here can be dropped (importlib's weakref callbacks, ctypes
        # callbacks print and ignore it: the command then ran on, or hung on a module
        # lock), and nothing of the command's is written while it imports: leave now.
        sys.stderr.flush()
        os._exit(130)
    raise SystemExit(130)


if __name__ == "__main__":  # `python -m bytepatch.cli.main`, e.g. under torchrun
    main()
