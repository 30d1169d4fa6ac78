"""Writing a dataset to object storage (`s3://`, `gs://`, any `pyarrow.fs` URI).

Object stores have no rename and no directory lock, but an object appears only once its
upload is complete. So a dataset is published shard by shard, each uploaded whole, and
`manifest.json` is uploaded last: a reader never sees a manifest before every shard it
lists is complete, and an interrupted run leaves no manifest (rerun with --overwrite).
The local engine stages the dataset in a local temporary directory and uploads it at
the end (the trade-off: local disk for one dataset); the Ray engine's actors upload each
shard as soon as it is written, so no machine holds more than its own shards.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bytepatch.dataset.manifest import MANIFEST
from bytepatch.errors import OutputError
from bytepatch.io.fs import filesystem, split_query

CHUNK = 8 << 20  # bytes copied at a time while uploading


def join(uri: str, name: str) -> str:
    """The URI of object `name` under the output prefix `uri`, before the prefix's query
    (`s3://b/out?endpoint_override=h:p` -> `s3://b/out/NAME?endpoint_override=h:p`): the
    query holds the filesystem's options, and the name pasted after it landed in them."""
    base, query = split_query(uri)
    return base.rstrip("/") + "/" + name + query


def prepare_remote_output(uri: str, overwrite: bool, owned) -> None:
    """Refuse a prefix holding anything bytepatch did not write, or a dataset without
    `overwrite`; with it, delete the old dataset (its manifest first). `owned(name)` says
    whether a file name is one bytepatch writes."""
    import pyarrow.fs as pafs

    fs, root = filesystem(uri)
    root = root.rstrip("/")
    try:
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    except OSError as exc:
        raise OutputError(f"{uri}: cannot list the output: {exc}") from exc
    names = [i.path[len(root) + 1 :] for i in infos if i.type == pafs.FileType.File]
    foreign = [n for n in names if "/" in n or not owned(n)]
    if foreign:
        raise OutputError(f"{uri}: output holds objects bytepatch did not write: {foreign[:5]}; choose a new prefix")
    if names and not overwrite:
        raise OutputError(f"{uri}: output is not empty; pass --overwrite to replace it")
    for name in sorted(names, key=lambda n: n != MANIFEST):  # the manifest first: no half dataset looks complete
        fs.delete_file(f"{root}/{name}")
    if fs.type_name == "local":  # file://: unlike an object store, the OS needs the directory (uploads failed)
        try:
            fs.create_dir(root, recursive=True)
        except OSError as exc:
            raise OutputError(f"{uri}: cannot create the output directory: {exc}") from exc


def upload(local: Path, uri: str) -> None:
    """Copy one local file to `uri` (the object appears when the upload completes)."""
    fs, path = filesystem(uri)
    try:
        with open(local, "rb") as src, fs.open_output_stream(path) as dst:
            shutil.copyfileobj(src, dst, CHUNK)
    except OSError as exc:
        raise OutputError(f"{uri}: cannot upload {local.name}: {exc}") from exc


def publish_dataset(local_dir: Path, uri: str, manifest: dict) -> None:
    """Upload a finished local dataset: every shard the manifest lists, then the manifest."""
    for shard in manifest["shards"]:
        upload(local_dir / shard["file"], join(uri, shard["file"]))
    upload(local_dir / MANIFEST, join(uri, MANIFEST))
