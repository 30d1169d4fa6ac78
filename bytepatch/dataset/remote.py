"""Writing a dataset to object storage (`s3://`, `gs://`, any `pyarrow.fs` URI).

Object stores have no rename and no directory lock, but an object appears only once its
upload is closed (`upload` deletes the object of an upload cut short, which pyarrow
completes on close all the same). So a dataset is published shard by shard, each
uploaded whole, and `manifest.json` is uploaded last: a reader never sees a manifest
before every shard it lists is complete, and an interrupted run leaves no manifest
(rerun with --overwrite).
The local engine stages the dataset in a local temporary directory and uploads it at
the end (the trade-off: local disk for one dataset); the Ray engine's actors upload each
shard as soon as it is written, so no machine holds more than its own shards.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bytepatch.dataset.files import tmp_path
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
    """Copy one local file to `uri`; the object appears whole or not at all.

    pyarrow's output streams have no abort: closing one, as leaving a `with` block on an
    error or Ctrl-C does (and as its destructor does), completes the upload with the bytes
    written so far, and an interrupted run left half a shard under its final name. So a
    failed upload's object is deleted; on a local filesystem (`file://`), where a killed
    process leaves what it wrote, the file is written under a temporary name and renamed."""
    fs, path = filesystem(uri)
    local_fs = fs.type_name == "local"
    base, slash, name = path.rpartition("/")
    target = f"{base}{slash}{tmp_path(Path(name)).name}" if local_fs else path
    try:
        with open(local, "rb") as src:
            dst = fs.open_output_stream(target)
            try:
                shutil.copyfileobj(src, dst, CHUNK)
            except BaseException:
                _discard(fs, target, dst)
                raise
            dst.close()
        if local_fs:
            fs.move(target, path)
    except OSError as exc:
        raise OutputError(f"{uri}: cannot upload {local.name}: {exc}") from exc


def _discard(fs, path: str, stream) -> None:
    """Close a stream whose upload failed, and delete what closing it published (best effort:
    the error that stopped the upload is the one to report)."""
    try:
        stream.close()
    except Exception:  # noqa: BLE001 - the backend's types are open-ended; the upload failed already
        pass
    try:
        fs.delete_file(path)
    except Exception:  # noqa: BLE001 - as above
        pass


def publish_dataset(local_dir: Path, uri: str, manifest: dict) -> None:
    """Upload a finished local dataset: every shard the manifest lists, then the manifest."""
    for shard in manifest["shards"]:
        upload(local_dir / shard["file"], join(uri, shard["file"]))
    upload(local_dir / MANIFEST, join(uri, MANIFEST))
