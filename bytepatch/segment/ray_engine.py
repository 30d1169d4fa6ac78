"""`segment --engine ray`: the same dataset, computed by a Ray cluster.

The driver cuts the inputs into splits of about one shard each (`bytepatch.io.splits`:
inside large files too), and Ray Data runs them through a pool of actors
(`map_batches` with a callable class): each actor builds the patcher and loads the
entropy model once, in its constructor, then reads its splits, patches them and writes
their shards (atomically, under names fixed by the split: `train-SSSSS-CCCCC.arrow` for
split S, chunk C). It returns one manifest entry per shard; the driver writes
`manifest.json` last, with the same provenance metadata as a local run.

Fault tolerance comes from Ray: actors are restarted and their tasks retried (Ray
Data's defaults for actor pools, max_restarts=-1 and max_task_retries=-1). A retried
split rewrites the same shard names with the same content, so a worker lost mid-run
costs time, never rows; temporaries a killed worker left behind are removed at the end.

Every worker must see the inputs, the output directory and the entropy model at the
same paths (a shared filesystem, or object storage URIs); the model travels as a path
and fingerprint (`bytepatch.entropy.source`), checked when each actor loads it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import pickle
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from bytepatch.dataset.files import TMP_SUFFIX, write_json
from bytepatch.dataset.manifest import MANIFEST, ShardInfo, build_manifest
from bytepatch.dataset.metadata import DatasetMetadata
from bytepatch.dataset.remote import join, prepare_remote_output, upload
from bytepatch.dataset.schema import dataset_schema
from bytepatch.entropy.ref import EntropyModelRef
from bytepatch.errors import BytepatchError
from bytepatch.io import ReaderConfig, Span, expand_sources, read_source
from bytepatch.io.fs import is_uri
from bytepatch.io.sources import STDIN, Source, input_paths
from bytepatch.io.splits import plan_splits
from bytepatch.patchers import Patcher, PatcherSpec
from bytepatch.segment.chunks import chunk_documents
from bytepatch.segment.errors import OutputError
from bytepatch.segment.layout import JobLayout, written_by_bytepatch
from bytepatch.segment.pipeline import SegmentOptions
from bytepatch.segment.output import check_output_apart, check_shards_present, job_lock, prepare_output
from bytepatch.segment.reading import check_named_inputs_early, check_unchanged, note_unused_fields
from bytepatch.segment.worker import ShardJob, ShardWriter, empty_shard

RAY_HINT = "pip install 'ray[data]'  (or: pip install 'bytepatch[ray]')"


@dataclasses.dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # an existing cluster ("auto", "ray://host:10001"); None: a local one
    actors: int | None = None  # actors patching at once; None: one per CPU of the cluster
    cpus_per_actor: float = 1.0


def segment_with_ray(
    inputs: Sequence[str],
    output: str | Path,
    patcher: Patcher | PatcherSpec | dict[str, Any],
    reader: ReaderConfig = ReaderConfig(),
    options: SegmentOptions = SegmentOptions(),
    entropy_model: EntropyModelRef | None = None,
    ray_options: RayOptions = RayOptions(),
    *,
    on_start: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Segment `inputs` into a dataset at `output` on Ray; returns the manifest.

    Arguments as `segment_corpus` (`options` is its `SegmentOptions`; an entropy patcher
    should hold a `SharedModel`, as `bytepatch.load_patcher` builds it, so actors receive
    a reference, not the weights; `on_start` is called once the inputs are split and the
    output is ready, before the actors start); rows are those of a local run (as a set:
    shards are cut per split, so their boundaries differ)."""
    inputs = input_paths(inputs)
    ray = _import_ray()
    if options.resume:
        raise OutputError(
            "--resume is not supported with --engine ray: rerun with --overwrite (Ray retries failed work itself)"
        )
    if options.num_jobs != 1:
        raise OutputError("--num-shards/--shard-index split the work between separate jobs; --engine ray needs neither")
    check_output_apart(inputs, output)
    sources = expand_sources(inputs, output=str(output))
    note_unused_fields(sources, reader)
    check_named_inputs_early(sources, reader)
    if any(s.path == STDIN for s in sources):
        raise OutputError("--engine ray cannot read stdin: the workers read the inputs themselves; pass files")
    shard_bytes = max(1, options.shard_bytes)
    splits = plan_splits(sources, reader, shard_bytes)
    if isinstance(patcher, (PatcherSpec, dict)):  # as segment_corpus takes it (it failed on `.needs_entropies`)
        patcher = (patcher if isinstance(patcher, PatcherSpec) else PatcherSpec.from_dict(patcher)).build()
    if patcher.needs_entropies and getattr(patcher, "model", None) is None:
        raise ValueError("the entropy patcher needs an entropy model: build it with one (bytepatch.load_patcher)")
    metadata = DatasetMetadata.of(patcher, options.save_entropies, options.calibration, entropy_model).to_dict()
    schema = dataset_schema(options.save_entropies, metadata)
    if is_uri(str(output)):  # object storage: actors upload each shard, the manifest goes last
        uri = str(output)
        prepare_remote_output(uri, options.overwrite, written_by_bytepatch)
        if on_start is not None:
            on_start()
        job = ShardJob(
            JobLayout(Path("."), options.shard_format),
            schema,
            patcher,
            options.save_entropies,
            options.window_bytes,
            options.threads,
        )
        shards = _run(ray, job, reader, splits, shard_bytes, ray_options, options.show_progress, uri)
        with tempfile.TemporaryDirectory(prefix="bytepatch-manifest-") as tmp:
            if not shards:  # no documents: the dataset still holds one (empty) shard
                shards = [empty_shard(job.layout, schema, Path(tmp))]
                upload(Path(tmp) / shards[0].file, join(uri, shards[0].file))
            manifest = build_manifest(metadata, shards, options.shard_format)
            write_json(Path(tmp) / MANIFEST, manifest)
            upload(Path(tmp) / MANIFEST, join(uri, MANIFEST))
        return manifest
    single = JobLayout(Path(output), options.shard_format)
    run_state = {"engine": "ray", "reader": asdict(reader), "metadata": metadata, "splits": len(splits)}
    with job_lock(single):
        prepare_output(single, options.overwrite, options.resume, run_state)
        job = ShardJob(single, schema, patcher, options.save_entropies, options.window_bytes, options.threads)
        if on_start is not None:
            on_start()
        try:
            shards = _run(ray, job, reader, splits, shard_bytes, ray_options, options.show_progress) or [
                empty_shard(single, schema)
            ]
        finally:
            _remove_temporaries(single.out)
        check_shards_present(single.out, shards, "rerun with --overwrite")  # as a local run does
        manifest = build_manifest(metadata, shards, options.shard_format)
        try:
            write_json(single.out / MANIFEST, manifest)
        except OSError as exc:
            raise OutputError(f"{single.out / MANIFEST}: cannot write the manifest: {exc}") from exc
    return manifest


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ModuleNotFoundError as exc:
        raise OutputError(f"--engine ray needs Ray Data, which is not installed ({exc.name}): {RAY_HINT}") from None
    return ray


def _run(
    ray,
    job: ShardJob,
    reader: ReaderConfig,
    splits: list[tuple[Source, Span]],
    shard_bytes: int,
    ray_options: RayOptions,
    show_progress: bool,
    uri: str | None = None,
) -> list[ShardInfo]:
    started_here = not ray.is_initialized()
    with _ray_console(ray, quiet=not show_progress):
        if started_here:
            ray.init(address=ray_options.address, include_dashboard=False, log_to_driver=False)
        try:
            actors = ray_options.actors or max(
                1, int(ray.cluster_resources().get("CPU", 1) // ray_options.cpus_per_actor)
            )
            # With the listing's size, to refuse a file that changed size since (`check_unchanged`).
            items = [
                {
                    "split": i,
                    "path": s.path,
                    "span": asdict(span),
                    "size": s.size,
                    "regular": s.regular,
                }
                for i, (s, span) in enumerate(splits)
            ]
            rows = (
                ray.data.from_items(items, override_num_blocks=max(1, len(items)))
                .map_batches(
                    SplitWriter,
                    batch_size=1,  # one split per task: a retry redoes one split only
                    compute=ray.data.ActorPoolStrategy(size=min(actors, max(1, len(items)))),
                    num_cpus=ray_options.cpus_per_actor,
                    fn_constructor_kwargs={
                        "job": job,
                        "reader": reader,
                        "shard_bytes": shard_bytes,
                        "num_splits": len(splits),
                        "uri": uri,
                    },
                    # A lost actor is replaced and its split run again (same shard names: idempotent):
                    # Ray Data's actor pools default to max_restarts=-1 and max_task_retries=-1. Not
                    # passed (`ray_remote_args`): Ray 2.60 warns on every run that they go in 2.64.
                )
                .take_all()
            )
        finally:
            if started_here:
                ray.shutdown()
    failed = [row for row in rows if row.get(ERROR) is not None]
    if failed:  # the user's to fix (a bad row, an unwritable output): the error itself, not Ray's wrapping
        raise min((pickle.loads(row[ERROR]) for row in failed), key=lambda pair: pair[0])[1]
    fields = {f.name for f in dataclasses.fields(ShardInfo)}
    return [
        ShardInfo(**{k: (None if v is None or v != v else v) for k, v in row.items() if k in fields}) for row in rows
    ]


# The loggers through which Ray prints on the driver's terminal: "ray" (ray.init's "Started a
# local Ray instance", Ray core's warnings) and "ray.data", which does not propagate to it.
RAY_LOGGERS = ("ray", "ray.data")


@contextlib.contextmanager
def _ray_console(ray: Any, quiet: bool) -> Iterator[None]:
    """Ray Data's progress bars unless `quiet`; under `quiet` (segment -q), Ray prints errors
    only: its loggers' console handlers (not its log files) at ERROR, and no execution plan.
    All as it was after the run (from Python, the caller's Ray settings are its own).

    ray.init(logging_level=...) quiets the "ray" logger only, of an instance started here;
    Ray Data's logger has a console handler of its own, at INFO, which printed the execution
    plan, "Progress bars disabled" (a warning about -q itself) and the time the run took."""
    context = ray.data.DataContext.get_current()
    # print_on_execution_start is newer than some Ray versions bytepatch supports.
    names = [name for name in ("enable_progress_bars", "print_on_execution_start") if hasattr(context, name)]
    saved = {name: getattr(context, name) for name in names}
    raised: list[tuple[logging.Handler, int]] = []
    context.enable_progress_bars = not quiet
    if quiet:
        if "print_on_execution_start" in saved:
            context.print_on_execution_start = False
        for name in RAY_LOGGERS:
            for handler in logging.getLogger(name).handlers:
                if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                    raised.append((handler, handler.level))
                    handler.setLevel(max(handler.level, logging.ERROR))
    try:
        yield
    finally:
        for handler, level in raised:
            handler.setLevel(level)
        for name, value in saved.items():
            setattr(context, name, value)


ERROR = "error"  # a row of SplitWriter's output: a pickled (split, BytepatchError) in place of a shard


class SplitWriter:
    """A Ray actor: patcher and entropy model built once, then one split per call."""

    def __init__(
        self, job: ShardJob, reader: ReaderConfig, shard_bytes: int, num_splits: int, uri: str | None = None
    ) -> None:
        model = getattr(job.patcher, "model", None)
        if model is not None:
            model.entropies([b"warm up"])  # load the model now, once per actor (a SharedModel loads lazily)
        self.job, self.reader, self.shard_bytes, self.num_splits, self.uri = job, reader, shard_bytes, num_splits, uri

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        out: dict[str, list] = {f.name: [] for f in dataclasses.fields(ShardInfo)}
        out[ERROR] = []
        try:
            if self.uri is None:
                self._write(batch, self.job.layout.out, out)
            else:
                # Object storage: each shard is written here, uploaded, then deleted; the directory
                # goes with the call (an actor is killed, not closed, when the dataset is done).
                with tempfile.TemporaryDirectory(prefix="bytepatch-ray-") as staging:
                    self._write(batch, Path(staging), out)
        except BytepatchError as exc:
            # Returned, not raised: Ray Data would wrap it in its own exception, whose message is
            # a remote traceback. The driver raises it (the first split's, as a local run would).
            out = {key: [None] for key in out}
            out[ERROR] = [pickle.dumps((int(min(batch["split"])), exc))]
        return out

    def _write(self, batch: dict[str, Any], directory: Path, out: dict[str, list]) -> None:
        stats = zip(batch["size"], batch["regular"])
        for split, path, span, (size, regular) in zip(batch["split"], batch["path"], batch["span"], stats):
            layout = JobLayout(directory, self.job.layout.shard_format, self.num_splits, int(split))
            writer = ShardWriter(dataclasses.replace(self.job, layout=layout))
            documents = read_source(str(path), self.reader, Span(**dict(span)))
            for chunk in chunk_documents(documents, self.shard_bytes):
                info = writer(chunk)
                if self.uri is not None:
                    local = layout.out / info.file
                    upload(local, join(self.uri, info.file))
                    local.unlink()
                for key, value in asdict(info).items():
                    out[key].append(value)
                out[ERROR].append(None)
            # By size alone: a node may hold its own copy of the inputs at the same path
            # (copied, so of another mtime), which a shared filesystem's mtime check would refuse.
            check_unchanged(Source(str(path), str(path), _count(size), None, bool(regular)))


def _count(value: Any) -> int | None:
    """An integer column's value as Ray Data hands it over (a null may come as NaN)."""
    return None if value is None or value != value else int(value)


def _remove_temporaries(out: Path) -> None:
    """Temporaries of shards whose writer died (a killed worker): never complete."""
    for path in out.glob(f".*{TMP_SUFFIX}"):
        if written_by_bytepatch(path.name):
            path.unlink(missing_ok=True)
