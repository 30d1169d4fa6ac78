"""The output directory of one segmentation job: its lock, making it ready (the
--overwrite/--resume rules: never among the user's own files, never half-deleted so it
looks complete), its temporaries, and the dataset manifest merged from the jobs'."""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import threading
from pathlib import Path
from typing import Any, Iterator, Sequence

from bytepatch.dataset.files import TMP_SUFFIX, tmp_path, write_json
from bytepatch.dataset.manifest import MANIFEST, ShardInfo, build_manifest, check_manifest, read_manifest
from bytepatch.errors import OutputError
from bytepatch.io.fs import is_uri, shown_path
from bytepatch.io.sources import GLOB_CHARS, STDIN
from bytepatch.lock import DirectoryLock, LockedError, is_lock_file
from bytepatch.segment.layout import JobLayout, written_by_bytepatch


@contextlib.contextmanager
def job_lock(layout: JobLayout) -> Iterator[None]:
    """This job's exclusive lock on the output for the whole run (each job of a K-job run
    holds its own, so siblings run side by side but two runs of one job never do)."""
    lock = DirectoryLock(layout.out, "bytepatch segment", layout.lock_name)
    try:
        lock.acquire()
    except LockedError as exc:
        raise OutputError(str(exc)) from None
    try:
        yield
    finally:
        lock.release()


def check_output_apart(inputs: Sequence[str], output: str | Path) -> None:
    """Refuse an output directory that an input directory's walk would read (the run
    would patch its own shards, and --overwrite would delete them while they are
    listed as input), and an input file inside the output directory (which --overwrite
    replaces), by the inputs as given: cheap, and before the output exists, so a first
    run is refused as a rerun would be. Hidden directories are never walked, so an
    output under one is fine. Globs, and links that lead into the output, are caught by
    the listing itself (`expand_sources(..., output=)`). An output path that is not
    UTF-8 is refused too, before anything is created."""
    try:
        os.fspath(output).encode("utf-8")
    except UnicodeEncodeError:  # before anything is created: pyarrow opens files by UTF-8 name only
        raise OutputError(
            f"{shown_path(output)}: the path is not valid UTF-8 (pyarrow cannot write it); choose another"
        )
    if is_uri(str(output)):
        return
    out = os.path.realpath(output)
    for spec in inputs:
        if spec == STDIN or is_uri(spec):
            continue
        if GLOB_CHARS & set(spec) and not os.path.exists(spec):
            _check_pattern(spec, output)
            continue
        if os.path.isdir(spec):
            rel = os.path.relpath(out, os.path.realpath(spec))
            parts = [] if rel == os.curdir else rel.split(os.sep)
            if parts[:1] != [os.pardir] and not any(part.startswith(".") for part in parts):
                where = "is the input directory" if not parts else f"is inside the input directory {spec}"
                raise OutputError(
                    f"{output}: the output directory {where}, so the run would read its own shards as "
                    "input; write the dataset outside the inputs (or in a hidden directory, which "
                    "walks skip)"
                )
        elif os.path.realpath(spec).startswith(out.rstrip(os.sep) + os.sep):
            raise OutputError(
                f"{spec}: this input is inside the output directory {output}, which the run replaces; "
                "move it out or write the dataset elsewhere"
            )


def _check_pattern(pattern: str, output: str | Path) -> None:
    """Refuse an output that a glob matches, or lies under a directory it matches and
    walks into (by name, so a first run, before the output exists, is refused as a rerun
    would be), matching as `glob` does: part by part, a wildcard never taking a leading
    `.`, `**` only non-hidden parts."""
    parts = os.path.abspath(output).split(os.sep)
    wanted = os.path.abspath(pattern).split(os.sep)
    for i in range(len(parts), 1, -1):
        if _glob_match(parts[:i], wanted):
            if not any(part.startswith(".") for part in parts[i:]):  # a hidden part is never walked
                raise OutputError(
                    f"{output}: the output directory is inside what the input pattern {pattern} matches, so "
                    "the run would read its own shards as input; write the dataset outside the inputs"
                )
            return


def _glob_match(parts: list[str], pattern: list[str]) -> bool:
    """Whether path `parts` match `pattern` parts as `glob.glob(..., recursive=True)` would."""
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":  # zero or more non-hidden parts
        for k in range(len(parts) + 1):
            if k and parts[k - 1].startswith("."):
                return False
            if _glob_match(parts[k:], rest):
                return True
        return False
    if not parts or (parts[0].startswith(".") and not head.startswith(".")):
        return False
    return fnmatch.fnmatchcase(parts[0], head) and _glob_match(parts[1:], rest)


RESUME_ADVICE = "rerun with --resume (--overwrite if its run state is gone too)"


def check_shards_present(out: Path, shards: Sequence[ShardInfo], again: str = RESUME_ADVICE) -> None:
    """Refuse to write a manifest listing a shard that is no longer in the output at the
    size it was written (the directory deleted or cleaned while the run wrote, on the
    same path): the manifest would make a dataset with missing files look complete. One
    stat per shard; the next read checks the content. `again`: what rewrites the shard."""
    for info in shards:
        path = out / info.file
        try:
            size = os.stat(path).st_size
        except OSError as exc:
            raise OutputError(
                f"{path}: a shard of this run, no longer there ({exc.strerror or exc}); was the output "
                f"directory removed or cleaned meanwhile? No manifest written; {again}"
            ) from None
        if size != info.file_size:
            raise OutputError(
                f"{path}: a shard of this run, written at {info.file_size:,} bytes, now {size:,}; no manifest written, "
                f"{again}"
            )


def finish(layout: JobLayout, merge: bool) -> dict[str, Any] | None:
    """The dataset manifest once this job is done: its own (one job), or merged from every
    job's when it finishes last (`merge`; else a coordinator merges), or None."""
    if layout.single:
        return read_manifest(layout.out)
    return merge_job_manifests(layout) if merge else None


def merge_job_manifests(layout: JobLayout) -> dict[str, Any] | None:
    """Write manifest.json from all job manifests if every job has finished, else None.

    Every job writes its own manifest before calling this, so the last job to finish
    always sees all of them; jobs finishing together write identical content, atomically.
    """
    paths = layout.job_manifests()
    if not all(p.exists() for p in paths):
        return None
    parts = [_read_job_manifest(p, job) for job, p in enumerate(paths)]
    for path, part in zip(paths, parts):
        if part.get("run_key") != parts[0].get("run_key"):
            raise OutputError(
                f"{path}: this job ran on other inputs or settings than {paths[0].name}; "
                "all jobs must see the same inputs and settings (rerun the odd one with --overwrite)"
            )
    shards: list[ShardInfo] = []
    for job, part in enumerate(parts):  # entries checked on reading
        mine = [ShardInfo(**s) for s in part["shards"]]
        # That job's --resume would find its job manifest and count itself finished.
        check_shards_present(layout.out, mine, f"rerun that job (--shard-index {job} --overwrite)")
        shards += mine
    metadata = parts[0]["metadata"]
    if not shards:  # no job read a document: one empty shard holds the schema, as for one job
        from bytepatch.dataset.schema import dataset_schema
        from bytepatch.segment.worker import empty_shard

        # Named as job 0's first shard whichever job merges: merges by two jobs (finishing
        # together, or one rerun) write the same file, which the manifest lists.
        first = JobLayout(layout.out, layout.shard_format, layout.num_jobs, 0)
        shards = [empty_shard(first, dataset_schema("entropies" in metadata["columns"], metadata))]
    manifest = build_manifest(metadata, shards, parts[0]["shard_format"])
    write_json(layout.out / MANIFEST, manifest)
    return manifest


def _read_job_manifest(path: Path, job: int) -> dict[str, Any]:
    """One job's manifest, checked as a dataset manifest is (keys, types, totals, entries
    of exactly ShardInfo's fields), or an error naming it: a damaged one ended the merging
    job with json's or the codec's message alone, or crashed on a missing key."""
    from dataclasses import MISSING, fields

    again = f"rerun that job (--shard-index {job} --overwrite)"
    if not path.is_file():  # reading a FIFO would block for ever
        raise OutputError(f"{path}: not a regular file, though named like a job manifest; {again}")
    try:
        part = json.loads(path.read_bytes())
        if not isinstance(part, dict):
            raise ValueError(f"a JSON {type(part).__name__}, not an object")
        check_manifest(part, "")
        names = {f.name for f in fields(ShardInfo)}
        needed = {f.name for f in fields(ShardInfo) if f.default is MISSING}
        for i, entry in enumerate(part["shards"]):
            if set(entry) - names:
                raise ValueError(f"shard entry {i} has unknown keys {sorted(set(entry) - names)}")
            if needed - set(entry):  # check_manifest covers all but `index`
                raise ValueError(f"shard entry {i} lacks {sorted(needed - set(entry))}")
            index = entry["index"]
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                raise ValueError(f"shard entry {i} 'index' is {index!r}, not a count")
    except OSError as exc:
        raise OutputError(f"{path}: cannot read the job manifest: {exc.strerror or exc}") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError and check_manifest's
        raise OutputError(f"{path}: not a readable job manifest ({str(exc).removeprefix(': ')}); {again}") from None
    return part


def prepare_output(layout: JobLayout, overwrite: bool, resume: bool, run_state: dict, set_aside: bool = False) -> bool:
    """Make the output ready for this job; True when a resumed job had already finished.

    `set_aside`: the replaced dataset's files of this job are renamed to temporaries
    (`tmp_path`) instead of unlinked, for the caller to remove while it runs
    (`removing_in_background`, then `remove_temporaries`). Unlinking a large file waits
    on the disk (0.7-1 ms per MB on the bench machine: ~9 s for a 10 GB dataset), a
    rename does not. The old final names are gone either way before anything is written.
    """
    out = layout.out
    if resume:
        if not layout.run_state.exists():
            raise OutputError(f"{out}: nothing to resume (no {layout.run_state.name}); run without --resume")
        previous = _read_run_state(layout.run_state)
        if previous.get("engine") == "ray":  # its keys are no local run's: they all "differed"
            raise OutputError(
                f"{out}: cannot resume: the run that wrote it used --engine ray, which --resume cannot continue "
                "(Ray retries failed work itself); rerun with --overwrite"
            )
        # run_key also covers the other jobs' inputs: the merge checks those.
        changed = sorted(k for k in run_state if k != "run_key" and previous.get(k) != run_state[k])
        if changed:
            what = ", ".join(_input_change(previous.get(k), run_state[k]) if k == "inputs" else k for k in changed)
            raise OutputError(f"{out}: cannot resume, settings differ from the interrupted run: {what}")
        return layout.job_manifest.exists()
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a directory")
    if out.exists():
        names = [p.name for p in out.iterdir() if not is_lock_file(p.name)]
        foreign = [n for n in names if not written_by_bytepatch(n)]
        # Ours to replace: this job's files, and any bytepatch file of another layout (an
        # earlier single run, another K), which would otherwise sit beside the new shards.
        mine = [n for n in names if written_by_bytepatch(n) and not layout.sibling(n)]
        if foreign:  # never write a dataset among the user's own files
            what = "refusing to overwrite, it" if mine else "output directory is not empty: it"
            raise OutputError(
                f"{out}: {what} holds files bytepatch did not write: {foreign[:5]}; choose a new directory"
            )
        if mine and not overwrite:
            # --resume only where it could continue: not for --engine ray, nor over a Ray run's output.
            ray = run_state.get("engine") == "ray" or _engine_of(layout.run_state) == "ray"
            resume_hint = "" if ray else " or --resume"
            raise OutputError(f"{out}: output directory is not empty; pass --overwrite to replace it{resume_hint}")
        # The dataset manifest goes first, so a half-deleted dataset never looks complete.
        (out / MANIFEST).unlink(missing_ok=True)
        for name in mine:
            path = out / name
            # Only this job's files under final names: their temporaries are this job's to
            # remove (another layout's set aside would be a temporary no job removes), and a
            # directory so named fails to unlink here, as before, not after the run.
            if set_aside and layout.owns(name) and not name.endswith(TMP_SUFFIX) and path.is_file():
                with contextlib.suppress(FileNotFoundError):
                    os.replace(path, tmp_path(path))
            else:
                path.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    write_json(layout.run_state, run_state, indent=None)  # read by --resume only
    return False


def _engine_of(path: Path) -> str | None:
    """The engine ("ray") a run state names, if it is a readable one of a Ray run; None
    otherwise (a local run's has no engine; a damaged one is for --resume to name)."""
    try:
        state = json.loads(path.read_bytes()) if path.is_file() else None
    except (OSError, ValueError):
        return None
    return state.get("engine") if isinstance(state, dict) else None


def _read_run_state(path: Path) -> dict[str, Any]:
    """The interrupted run's settings, or an error naming the file: a damaged one said only
    what json or the UTF-8 codec found (no file), or crashed on a value that is no object."""
    again = "the interrupted run cannot be resumed, rerun with --overwrite"
    if not path.is_file():  # reading a FIFO would block for ever
        raise OutputError(f"{path}: not a regular file, though named like the run state; {again}")
    try:
        state = json.loads(path.read_bytes())
    except OSError as exc:
        raise OutputError(f"{path}: cannot read the run state: {exc.strerror or exc}") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
        raise OutputError(f"{path}: not a readable run state ({exc}); {again}") from None
    if not isinstance(state, dict):
        raise OutputError(f"{path}: not a readable run state (a JSON {type(state).__name__}, not an object); {again}")
    return state


def _input_change(before: Any, now: list) -> str:
    """ "inputs", saying which input changed and how (the first that did)."""
    if not isinstance(before, list):
        return "inputs"
    old = {entry[0]: entry for entry in before if isinstance(entry, list) and entry}
    new = {entry[0]: entry for entry in now}
    for path, entry in new.items():
        if path not in old:
            return f"inputs ({path} was not an input then)"
        if old[path] != entry:
            size = "" if old[path][1:2] == entry[1:2] else f", size {old[path][1]} -> {entry[1]} bytes"
            return f"inputs ({path} changed since{size}: rerun with --overwrite)"
    gone = [path for path in old if path not in new]
    if gone:
        return f"inputs ({gone[0]} is no longer an input)"
    return "inputs (their order)"


def temporaries(layout: JobLayout) -> list[Path]:
    """This job's temporaries: a killed run's, a failed one's (never complete), the files
    `prepare_output` set aside."""
    return [p for p in layout.out.glob(f".*{TMP_SUFFIX}") if layout.owns(p.name)]


def remove_temporaries(layout: JobLayout) -> None:
    """Unlink this job's temporaries (`temporaries`)."""
    for p in temporaries(layout):
        p.unlink(missing_ok=True)


@contextlib.contextmanager
def removing_in_background(paths: list[Path], background: bool = True) -> Iterator[None]:
    """Unlink `paths` on a thread while the body runs; the thread is joined when it ends
    (`background=False`: before the body starts). Best effort: a file that could not be
    unlinked is left for `remove_temporaries`, which the caller runs after, and which
    raises its error."""

    def unlink_all() -> None:
        for path in paths:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)

    if not background:
        unlink_all()
        yield
        return
    thread = threading.Thread(target=unlink_all, name="bytepatch-remove", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()
