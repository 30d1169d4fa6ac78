"""`segment_corpus`: inputs -> documents -> chunks -> shards -> manifest.

The main process reads and chunks documents (cheap, sequential, deterministic); the
patching and shard writing (the expensive part once an entropy model is involved) run
in up to `workers` processes, with a bounded number of chunks in flight so memory stays
proportional to shard size x workers, not to corpus size. The manifest is written last.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import pyarrow as pa

from bytepatch._version import __version__
from bytepatch.dataset.files import SHARD_SUFFIX, TMP_SUFFIX, shard_name, write_json
from bytepatch.dataset.manifest import MANIFEST, RUN_STATE, ShardInfo, read_manifest, write_manifest
from bytepatch.dataset.schema import FORMAT_VERSION, dataset_schema
from bytepatch.io import ReaderConfig, expand_inputs, read_source
from bytepatch.io.documents import Document
from bytepatch.io.sources import STDIN
from bytepatch.progress import Progress
from bytepatch.segment.chunks import Chunk, chunk_documents
from bytepatch.segment.worker import ShardJob, ShardWriter, init_worker, run_in_worker


class OutputError(Exception):
    """The output directory cannot be used as asked."""


@dataclass(frozen=True)
class SegmentOptions:
    shard_format: str = "arrow"  # arrow (IPC file) | parquet
    shard_size_mb: float = 64.0  # bytes of documents per shard; bounds memory per worker
    workers: int = 1
    overwrite: bool = False  # replace an existing dataset in the output directory
    resume: bool = False  # continue an interrupted run with identical settings
    save_entropies: bool = False
    show_progress: bool = True
    extra_metadata: dict[str, Any] = field(default_factory=dict)  # e.g. calibration details

    def __post_init__(self) -> None:
        if self.shard_format not in SHARD_SUFFIX:
            raise ValueError(f"shard format must be one of {sorted(SHARD_SUFFIX)}, got {self.shard_format!r}")
        if self.shard_size_mb <= 0:
            raise ValueError("shard size must be positive")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.overwrite and self.resume:
            raise ValueError("--overwrite and --resume exclude each other")


def segment_corpus(
    inputs: Sequence[str],
    output: str | Path,
    patcher: dict[str, Any],
    reader: ReaderConfig = ReaderConfig(),
    options: SegmentOptions = SegmentOptions(),
    model_factory: Callable[[], Any] | None = None,
    model_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Segment every document of `inputs` into a dataset at `output`; returns the manifest.

    `patcher` is a `Patcher.to_dict()`; `model_factory` builds the entropy model (in each
    worker) and `model_info` describes it (name, kind, fingerprint) for the metadata.
    """
    out = Path(output)
    files = expand_inputs(inputs)
    if options.resume and STDIN in files:
        raise OutputError("--resume cannot replay stdin; pass files")
    metadata = {
        "bytepatch_version": __version__,
        "format_version": FORMAT_VERSION,
        "patcher": patcher,
        "entropy_model": model_info,
        "columns": ["id", "bytes", "patch_lengths"] + (["entropies"] if options.save_entropies else []),
        **options.extra_metadata,
    }
    run_state = {
        "inputs": files,
        "reader": asdict(reader),
        "metadata": {k: v for k, v in metadata.items() if k != "bytepatch_version"},
        "shard_format": options.shard_format,
        "shard_size_mb": options.shard_size_mb,
    }
    done = _prepare_output(out, options, run_state)
    if done is not None:
        return done
    schema = dataset_schema(options.save_entropies, metadata)
    job = ShardJob(out, options.shard_format, schema, patcher, model_factory, options.save_entropies)
    finished = _finished_shards(out, options.shard_format)
    progress = Progress(_total_size(files), enabled=options.show_progress)
    documents = (doc for path in files for doc in read_source(path, reader))
    chunks = chunk_documents(_counting(documents, progress), int(options.shard_size_mb * 1e6))
    try:
        shards = _run(chunks, job, options.workers, finished)
    finally:
        progress.close()
        _remove_temporaries(out)
    return write_manifest(out, metadata, shards, options.shard_format)


def _run(chunks: Iterable[Chunk], job: ShardJob, workers: int, finished: dict[int, ShardInfo]) -> list[ShardInfo]:
    shards: list[ShardInfo] = []
    todo = _skip_finished(chunks, finished, shards)
    if workers == 1:
        writer = ShardWriter(job)
        for chunk in todo:
            shards.append(writer(chunk))
        return shards
    # spawn, not fork: forking a process that may hold torch/OpenMP threads can deadlock.
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, initializer=init_worker, initargs=(job,)) as pool:
        pending: collections.deque = collections.deque()
        try:
            for chunk in todo:
                pending.append(pool.apply_async(run_in_worker, (chunk,)))
                while len(pending) >= 2 * workers:  # bounded in-flight chunks = bounded memory
                    shards.append(pending.popleft().get())
            while pending:
                shards.append(pending.popleft().get())
        except BaseException:
            pool.terminate()
            raise
    return shards


def _skip_finished(chunks: Iterable[Chunk], finished: dict[int, ShardInfo], shards: list[ShardInfo]):
    """Chunks still to do; finished ones go straight to `shards` (their input is still read,
    because chunk boundaries are only known by reading)."""
    for chunk in chunks:
        if chunk.index in finished:
            shards.append(finished[chunk.index])
        else:
            yield chunk


def _counting(documents: Iterable[Document], progress: Progress) -> Iterable[Document]:
    for doc in documents:
        progress.update(len(doc.data))
        yield doc


def _total_size(files: list[str]) -> int | None:
    try:
        return sum(os.path.getsize(f) for f in files if f != STDIN) or None
    except OSError:
        return None


def _prepare_output(out: Path, options: SegmentOptions, run_state: dict) -> dict | None:
    """Make `out` ready; returns the manifest when a resumed run is already complete."""
    state_path = out / RUN_STATE
    if options.resume:
        if not state_path.exists():
            raise OutputError(f"{out}: nothing to resume (no {RUN_STATE}); run without --resume")
        import json

        previous = json.loads(state_path.read_text())
        if previous != run_state:
            changed = sorted(k for k in run_state if previous.get(k) != run_state[k])
            raise OutputError(f"{out}: cannot resume, settings differ from the interrupted run: {', '.join(changed)}")
        if (out / MANIFEST).exists():
            return read_manifest(out)
        return None
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a directory")
    if out.exists() and any(out.iterdir()):
        if not options.overwrite:
            raise OutputError(f"{out}: output directory is not empty; pass --overwrite to replace it or --resume")
        foreign = [p.name for p in out.iterdir() if not _is_ours(p.name)]
        if foreign:
            raise OutputError(f"{out}: refusing to overwrite, it holds files bytepatch did not write: {foreign[:5]}")
        (out / MANIFEST).unlink(missing_ok=True)  # first, so a half-deleted dataset never looks complete
        for p in out.iterdir():
            p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    write_json(state_path, run_state)
    return None


def _is_ours(name: str) -> bool:
    if name in (MANIFEST, RUN_STATE):
        return True
    if name.startswith(".") and name.endswith(TMP_SUFFIX):
        return True
    return name.startswith("part-") and name.endswith(tuple(SHARD_SUFFIX.values()))


def _finished_shards(out: Path, shard_format: str) -> dict[int, ShardInfo]:
    """Shards a previous (interrupted) run completed; final names are only ever complete."""
    finished = {}
    suffix = SHARD_SUFFIX[shard_format]
    for path in sorted(out.glob(f"part-*{suffix}")):
        index = int(path.name[len("part-") : -len(suffix)])
        if path.name == shard_name(index, shard_format):
            finished[index] = _shard_info(path, index, shard_format)
    return finished


def _shard_info(path: Path, index: int, shard_format: str) -> ShardInfo:
    if shard_format == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=["bytes", "patch_lengths"])
    else:
        with pa.memory_map(str(path), "r") as source:
            table = pa.ipc.open_file(source).read_all()
    import pyarrow.compute as pc

    n_bytes = pc.sum(pc.binary_length(table.column("bytes"))).as_py() or 0
    n_patches = pc.sum(pc.list_value_length(table.column("patch_lengths"))).as_py() or 0
    return ShardInfo(index, path.name, table.num_rows, n_bytes, n_patches, path.stat().st_size)


def _remove_temporaries(out: Path) -> None:
    for p in out.glob(f".part-*{TMP_SUFFIX}"):
        p.unlink(missing_ok=True)
