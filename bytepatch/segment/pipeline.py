"""`segment_corpus`: inputs -> documents -> shards -> manifest.

The main process reads documents (sequential, deterministic). With one worker (the
default) shards are streamed: documents go in groups of a few MB that are patched and
appended to their shard's file as they are read, on `threads` threads (`stream.py`).
With `workers` > 1, whole shard-sized chunks are patched and written in that many
processes, a bounded number in flight. Either way shard k holds the same rows
(`chunks.shard_pieces` is the one rule), memory is bounded by the group or shard size,
not the corpus, and the manifest is written last; an interrupted run's finished shards
are kept by `--resume` once checked against the input (`resume.py`).

Several jobs may share one output directory (`num_jobs`/`job`, see `layout.py`): each
takes every K-th split of the inputs (`bytepatch.io.splits`: inside large files too),
writes its own namespace, and the last one to finish
merges the job manifests into `manifest.json`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence


from bytepatch.cpus import available_cpus
from bytepatch.dataset.files import SHARD_SUFFIX, TMP_SUFFIX, write_json
from bytepatch.dataset.manifest import MANIFEST, ShardInfo, build_manifest, read_manifest
from bytepatch.dataset.metadata import DatasetMetadata
from bytepatch.dataset.schema import dataset_schema
from bytepatch.entropy.ref import EntropyModelRef
from bytepatch.errors import OutputError
from bytepatch.io import ReaderConfig, Source, Span, expand_sources, read_source
from bytepatch.io.documents import Document
from bytepatch.io.fs import file_size, is_uri, stamp
from bytepatch.io.jsonl_batch import DocumentBatch, read_jsonl_blocks
from bytepatch.io.sources import STDIN, detect_format
from bytepatch.io.splits import plan_splits
from bytepatch.patchers import Patcher, PatcherSpec
from bytepatch.lock import DirectoryLock, LockedError, is_lock_file
from bytepatch.progress import Progress
from bytepatch.segment.chunks import Chunk, chunk_documents, stream_groups
from bytepatch.segment.layout import JobLayout, written_by_bytepatch
from bytepatch.segment.processes import run_in_processes
from bytepatch.segment.resume import Journal, KeptShard, check_none_left, finished_shards
from bytepatch.segment.stream import run_streamed
from bytepatch.segment.windows import DEFAULT_WINDOW
from bytepatch.segment.worker import ShardJob, ShardWriter


@dataclass(frozen=True)
class SegmentOptions:
    shard_format: str = "arrow"  # arrow (IPC file) | parquet
    shard_size_mb: float = 64.0  # bytes of documents per shard; bounds memory per worker
    workers: int = 1
    overwrite: bool = False  # replace an existing dataset in the output directory
    resume: bool = False  # continue an interrupted run with identical settings
    save_entropies: bool = False
    show_progress: bool = True
    calibration: dict[str, Any] | None = field(default=None, hash=False)  # how the threshold was calibrated, if it was
    num_jobs: int = 1  # independent jobs writing one dataset (--num-shards)
    job: int = 0  # this job's index (--shard-index)
    merge: bool = True  # write manifest.json when this job finishes last (off: a coordinator does)
    window_bytes: int = DEFAULT_WINDOW  # longer documents are patched window by window
    threads: int = 1  # threads per worker for the kernels that release the GIL (the n-gram entropies)

    def __post_init__(self) -> None:
        if self.shard_format not in SHARD_SUFFIX:
            raise ValueError(f"shard format must be one of {sorted(SHARD_SUFFIX)}, got {self.shard_format!r}")
        if not math.isfinite(self.shard_size_mb) or self.shard_size_mb <= 0:
            raise ValueError(f"--shard-size-mb must be a positive number, got {self.shard_size_mb}")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.threads < 1:
            raise ValueError("threads must be at least 1")
        if self.overwrite and self.resume:
            raise ValueError("--overwrite and --resume exclude each other")


def segment_corpus(
    inputs: Sequence[str],
    output: str | Path,
    patcher: Patcher | PatcherSpec | dict[str, Any],
    reader: ReaderConfig = ReaderConfig(),
    options: SegmentOptions = SegmentOptions(),
    entropy_model: EntropyModelRef | None = None,
) -> dict[str, Any] | None:
    """Segment `inputs` into a dataset at `output`.

    Returns the dataset manifest, or None when this is one of several jobs and others
    have not finished yet. `patcher` is the patcher (an entropy patcher carries its
    model: give it a `SharedModel`, as `bytepatch.load_patcher` does, so each worker
    process loads its own copy instead of receiving the weights through a pipe), or a
    model-free patcher's `PatcherSpec` / JSON dict. `entropy_model` is the record of
    the model the metadata keeps (default: `EntropyModelRef.of` the patcher's model).
    """
    if is_uri(str(output)):
        return _segment_to_uri(inputs, str(output), patcher, reader, options, entropy_model)
    layout = JobLayout(Path(output), options.shard_format, options.num_jobs, options.job)
    sources = expand_sources(inputs)
    all_files = [s.path for s in sources]
    parts = job_parts(sources, reader, options)
    files = list(dict.fromkeys(s.path for s, _ in parts))
    if options.resume and STDIN in files:
        raise OutputError("--resume cannot replay stdin; pass files")
    if isinstance(patcher, (PatcherSpec, dict)):
        spec = patcher if isinstance(patcher, PatcherSpec) else PatcherSpec.from_dict(patcher)
        patcher = spec.build()
    if patcher.needs_entropies and getattr(patcher, "model", None) is None:
        raise ValueError("the entropy patcher needs an entropy model: build it with one (bytepatch.load_patcher)")
    metadata = DatasetMetadata.of(patcher, options.save_entropies, options.calibration, entropy_model).to_dict()
    settings = {
        "reader": asdict(reader),
        "metadata": {k: v for k, v in metadata.items() if k != "bytepatch_version"},
        "shard_format": options.shard_format,
        "shard_size_mb": options.shard_size_mb,
    }
    # The same for every job of one run: the job manifests are merged only if they agree.
    stamps = {s.path: _stamp(s) for s in sources}
    run_key = _digest({**settings, "inputs": [stamps[f] for f in all_files], "jobs": options.num_jobs})
    run_state = {
        **settings,
        "inputs": [stamps[f] for f in files],
        "job": [options.job, options.num_jobs],
        "run_key": run_key,
        "splits": [[s.path, span.start, span.end] for s, span in parts],
    }
    with _lock(layout):
        if _prepare_output(layout, options, run_state):
            return _finish(layout, options)
        _remove_temporaries(layout)  # a killed run's; we hold this job's lock, so none is live
        schema = dataset_schema(options.save_entropies, metadata)
        job = ShardJob(layout, schema, patcher, options.save_entropies, options.window_bytes, options.threads)
        finished = finished_shards(layout)
        mine = set(files)
        total = _total_size([s for s in sources if s.path in mine]) if len(parts) == len(files) else None
        progress = Progress(total, enabled=options.show_progress, label="patched")
        documents = (doc for s, span in parts for doc in _read_fast(s.path, reader, span, options.threads > 1))
        ids = _DuplicateIds() if reader.id_field else None  # generated ids are unique by construction
        counted = _counting(documents, progress, ids)
        try:
            shards = _run(counted, int(options.shard_size_mb * 1e6), job, options.workers, finished, progress)
        finally:
            progress.close()
            _remove_temporaries(layout)
        if ids is not None:
            ids.report()
        try:
            write_json(
                layout.job_manifest, {**build_manifest(metadata, shards, options.shard_format), "run_key": run_key}
            )
        except OSError as exc:
            raise OutputError(f"{layout.job_manifest}: cannot write the manifest: {exc}") from exc
        return _finish(layout, options)


def _segment_to_uri(inputs, uri: str, patcher, reader: ReaderConfig, options: SegmentOptions, entropy_model):
    """An object-storage output: the dataset is staged in a local temporary directory
    ($TMPDIR), then its shards are uploaded and the manifest last (`bytepatch.dataset.remote`)."""
    import dataclasses
    import shutil
    import tempfile

    from bytepatch.dataset.remote import prepare_remote_output, publish_dataset

    if options.resume:
        raise OutputError(
            f"{uri}: --resume needs a local output directory (object storage has no run state); rerun with --overwrite"
        )
    if options.num_jobs != 1:
        raise OutputError(
            f"{uri}: --num-shards jobs merge through a shared directory; for object storage use --engine ray"
        )
    prepare_remote_output(uri, options.overwrite, written_by_bytepatch)
    staging = Path(tempfile.mkdtemp(prefix="bytepatch-stage-"))
    try:
        local = dataclasses.replace(options, overwrite=False)
        manifest = segment_corpus(inputs, staging / "dataset", patcher, reader, local, entropy_model)
        publish_dataset(staging / "dataset", uri, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def job_parts(sources: list[Source], reader: ReaderConfig, options: SegmentOptions) -> list[tuple[Source, Span]]:
    """What this job reads: every input whole for a single job; for one of K jobs, every
    K-th split of the inputs cut into splits of about a shard each (inside large files
    too), so one big file still gives every job work. A job left without any split says so."""
    if options.num_jobs == 1:
        return [(s, Span(s.name)) for s in sources]
    splits = plan_splits(sources, reader, max(1, int(options.shard_size_mb * 1e6)))
    mine = splits[options.job :: options.num_jobs]
    if not mine:
        print(
            f"warning: job {options.job} of {options.num_jobs} gets no input: the inputs make only "
            f"{len(splits)} split(s) of about --shard-size-mb {options.shard_size_mb:g}; it writes an empty "
            "job manifest (use fewer jobs or a smaller --shard-size-mb)",
            file=sys.stderr,
        )
    return mine


@contextlib.contextmanager
def _lock(layout: JobLayout) -> Iterator[None]:
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


def _finish(layout: JobLayout, options: SegmentOptions) -> dict[str, Any] | None:
    if layout.single:
        return read_manifest(layout.out)
    return merge_job_manifests(layout) if options.merge else None


def merge_job_manifests(layout: JobLayout) -> dict[str, Any] | None:
    """Write manifest.json from all job manifests if every job has finished, else None.

    Every job writes its own manifest before calling this, so the last job to finish
    always sees all of them; jobs finishing together write identical content, atomically.
    """
    paths = layout.job_manifests()
    if not all(p.exists() for p in paths):
        return None
    parts = [json.loads(p.read_text()) for p in paths]
    for path, part in zip(paths, parts):
        if part.get("run_key") != parts[0].get("run_key"):
            raise OutputError(
                f"{path}: this job ran on other inputs or settings than {paths[0].name}; "
                "all jobs must see the same inputs and settings (rerun the odd one with --overwrite)"
            )
    shards = [ShardInfo(**s) for part in parts for s in part["shards"]]
    manifest = build_manifest(parts[0]["metadata"], shards, parts[0]["shard_format"])
    write_json(layout.out / MANIFEST, manifest)
    return manifest


def _run(
    documents: Iterable[Document | DocumentBatch],
    shard_bytes: int,
    job: ShardJob,
    workers: int,
    finished: dict[int, tuple[Path, dict]],
    progress: Progress | None = None,
) -> list[ShardInfo]:
    """Patch and write every shard of `documents`; `progress` counts bytes patched (as each
    group of documents is done, in whichever process) and bytes written (as each shard lands)."""
    progress = progress or Progress(None, enabled=False)
    shards = Journal(job.layout.journal)
    workers = min(workers, available_cpus())  # more processes than CPUs only cost memory
    if workers == 1:  # one process: shards streamed, a group at a time, on --threads threads
        writer = ShardWriter(job, on_patched=progress.update)
        groups = stream_groups(documents, shard_bytes, job.window)
        return run_streamed(groups, writer, shards, finished, progress, job.threads)
    todo = _skip_finished(chunk_documents(documents, shard_bytes), finished, shards, job.layout, progress)
    for info in run_in_processes(todo, job, workers, lambda n: progress.set_done(progress.skipped + n)):
        shards.append(info)
        progress.add_written(info.bytes)
    return shards.entries


def _skip_finished(
    chunks: Iterable[Chunk],
    finished: dict[int, tuple[Path, dict]],
    shards: Journal,
    layout: JobLayout,
    progress: Progress,
):
    """Chunks still to do; finished ones go straight to `shards` (their input is still read,
    because chunk boundaries are only known by reading) once they are checked to hold
    exactly the documents just read."""
    seen = set()
    for chunk in chunks:
        seen.add(chunk.index)
        if chunk.index in finished:
            kept = KeptShard(chunk.index, *finished[chunk.index], layout.shard_format)
            kept.check(chunk)
            shards.append(kept.info(), record=False)
            progress.skip(shards.entries[-1].bytes)  # done in an earlier run
        else:
            yield chunk
        del chunk  # drop it before the next one is read (memory: one shard at a time)
    check_none_left(finished, seen, layout)


def _stamp(source: Source) -> list:
    """[path, size, mtime_ns] of an input (from the stat taken when it was listed): a
    resumed run refuses inputs changed since."""
    if source.path == STDIN:
        return [source.path]
    if source.size is None or source.mtime_ns is None:
        return stamp(source.path)  # a URI, or a file that could not be stat'ed: its error, now
    return [source.path, source.size, source.mtime_ns]


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _read_fast(
    path: str, reader: ReaderConfig, span: Span | None, threads: bool = True
) -> Iterable[Document | DocumentBatch]:
    """A JSONL file (or split) in batches of lines wherever Arrow parses them exactly as the
    line reader would (see io/jsonl_batch.py), else document by document; the chunks are
    the same either way."""
    if path != STDIN and not is_uri(path) and detect_format(path, reader.input_format) == "jsonl":
        return _jsonl_fast(path, reader, span, threads)
    return read_source(path, reader, span)


def _jsonl_fast(
    path: str, reader: ReaderConfig, span: Span | None, threads: bool
) -> Iterator[Document | DocumentBatch]:
    for item in read_jsonl_blocks(path, reader, span, threads=threads):
        if isinstance(item, Span):  # the rest, from this line on, goes line by line
            yield from read_source(path, reader, item)
            return
        yield item


def _counting(
    documents: Iterable[Document | DocumentBatch], progress: Progress, ids: _DuplicateIds | None = None
) -> Iterable[Document | DocumentBatch]:
    for doc in documents:
        progress.add_read(len(doc.data))
        if ids is not None:
            for doc_id in doc.ids if isinstance(doc, DocumentBatch) else [doc.id]:
                ids.add(doc_id)
        yield doc
    progress.reading_done()


class _DuplicateIds:
    """Notices ids given twice (legal, but it makes rows ambiguous to trace): a warning,
    not an error. Keeps 8-byte digests of at most MAX ids, so memory stays bounded."""

    MAX = 5_000_000

    def __init__(self) -> None:
        self.seen: set[bytes] = set()
        self.count = 0
        self.first: str | None = None

    def add(self, doc_id: str) -> None:
        if len(self.seen) >= self.MAX:
            return
        key = hashlib.blake2b(doc_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        if key in self.seen:
            self.count += 1
            self.first = self.first if self.first is not None else doc_id
        else:
            self.seen.add(key)

    def report(self) -> None:
        if self.count:
            print(
                f"warning: {self.count:,} document id(s) appear more than once (first: {self.first!r}); "
                "rows with one id cannot be told apart by it",
                file=sys.stderr,
            )


def _total_size(sources: list[Source]) -> int | None:
    """Bytes of input (for the progress line), None when unknown (stdin)."""
    try:
        return sum(s.size if s.size is not None else file_size(s.path) for s in sources if s.path != STDIN) or None
    except OSError:
        return None


def _prepare_output(layout: JobLayout, options: SegmentOptions, run_state: dict) -> bool:
    """Make the output ready for this job; True when a resumed job had already finished."""
    out = layout.out
    if options.resume:
        if not layout.run_state.exists():
            raise OutputError(f"{out}: nothing to resume (no {layout.run_state.name}); run without --resume")
        previous = json.loads(layout.run_state.read_text())
        # run_key also covers the other jobs' inputs: the merge checks those.
        changed = sorted(k for k in run_state if k != "run_key" and previous.get(k) != run_state[k])
        if changed:
            raise OutputError(f"{out}: cannot resume, settings differ from the interrupted run: {', '.join(changed)}")
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
        if mine and not options.overwrite:
            raise OutputError(f"{out}: output directory is not empty; pass --overwrite to replace it or --resume")
        # The dataset manifest goes first, so a half-deleted dataset never looks complete.
        (out / MANIFEST).unlink(missing_ok=True)
        for name in mine:
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    write_json(layout.run_state, run_state, indent=None)  # read by --resume only
    return False


def _remove_temporaries(layout: JobLayout) -> None:
    for p in layout.out.glob(f".*{TMP_SUFFIX}"):
        if layout.owns(p.name):
            p.unlink(missing_ok=True)
