"""Local paths and URIs (`s3://`, `gs://`, `hf://`, ...) behind one small interface.

Local paths go straight to the OS (the fast path, and what every existing test reads).
A URI goes through `pyarrow.fs`: `s3://` and `gs://` (`gcs://`) natively, and any other
scheme an installed `fsspec` implementation provides (e.g. `hf://` with
`huggingface_hub`), wrapped by `pyarrow.fs.PyFileSystem`. A scheme nothing provides is
an error naming the scheme and the package to install.

S3 settings come from the usual AWS environment (credentials, `AWS_REGION`) and, for
S3-compatible servers, `AWS_ENDPOINT_URL` (e.g. `http://127.0.0.1:9000`), which pyarrow
reads itself.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import urllib.parse
from typing import IO, Any, Iterator

from bytepatch.io.errors import InputError

NATIVE_SCHEMES = {"s3": "s3", "gs": "gs", "gcs": "gs", "file": "file"}
FSSPEC_HINTS = {"hf": "huggingface_hub", "az": "adlfs", "abfs": "adlfs", "http": "aiohttp", "https": "aiohttp"}
EXTRA_HINTS = {"hf": "bytepatch[datasets]"}  # schemes one of bytepatch's extras provides (pyproject.toml)


def _install_hint(scheme: str, packages: str) -> str:
    extra = EXTRA_HINTS.get(scheme)
    return f"pip install {packages}" + (f", or: pip install '{extra}'" if extra else "")


def shown_path(path: str | os.PathLike) -> str:
    """`path` (or a message naming one) as printable text: a POSIX name that is not UTF-8 (decoded by Python with
    surrogateescape) shows its bytes as `\\xNN`, a lone surrogate (Windows) as `\\udcNN`,
    so a message or page naming it can always be written as UTF-8."""
    text = os.fspath(path)
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


@contextlib.contextmanager
def storage_errors(uri: str) -> Iterator[None]:
    """Turn whatever a storage backend raises (pyarrow, fsspec implementations, their
    HTTP clients: each has its own exception types) into one InputError naming the URI."""
    try:
        yield
    except InputError:
        raise
    except FileNotFoundError as exc:
        raise InputError(uri, f"no such object: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - the backend's types are open-ended; the message keeps the reason
        raise InputError(uri, f"storage error: {type(exc).__name__}: {exc}") from exc


def is_uri(path: str) -> bool:
    return "://" in path


def scheme_of(uri: str) -> str:
    return uri.split("://", 1)[0].lower()


def split_query(uri: str) -> tuple[str, str]:
    """(the URI without its query, the query with its `?`, or "") for a native URI
    (`filesystem`): pyarrow takes the query as the filesystem's options
    (`s3://b/p/?endpoint_override=host:port`), never as part of an object's path, which
    names a literal `?` as `%3F`. Other schemes' URIs have no query: ("uri", "")."""
    if not is_uri(uri) or scheme_of(uri) not in NATIVE_SCHEMES:
        return uri, ""
    base, mark, query = uri.partition("?")
    return base, mark + query


def without_query(path: str) -> str:
    """`path` as its name's suffix is read (`.jsonl`, `.gz`): a native URI without its
    query (`x.jsonl?region=r` is a JSONL object); anything else as it is."""
    return split_query(path)[0]


def filesystem(uri: str) -> tuple[Any, str]:
    """(pyarrow FileSystem, path inside it) for a URI; a clear InputError if no
    installed package handles its scheme."""
    import pyarrow as pa
    import pyarrow.fs as pafs

    scheme = scheme_of(uri)
    if scheme in NATIVE_SCHEMES:
        try:
            return pafs.FileSystem.from_uri(uri)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise InputError(uri, f"cannot open {scheme}:// storage: {exc}") from exc
    try:
        import fsspec
    except ModuleNotFoundError:
        packages = f"fsspec {FSSPEC_HINTS.get(scheme, '')}".rstrip()
        raise InputError(uri, f"URI scheme {scheme!r} needs fsspec: {_install_hint(scheme, packages)}") from None
    try:
        impl = fsspec.filesystem(scheme)
    except (ImportError, ValueError) as exc:
        hint = f" ({_install_hint(scheme, FSSPEC_HINTS[scheme])})" if scheme in FSSPEC_HINTS else ""
        raise InputError(uri, f"URI scheme {scheme!r} is not available{hint}: {exc}") from exc
    return pafs.PyFileSystem(pafs.FSSpecHandler(impl)), uri.split("://", 1)[1]


def open_listed(path: str, regular: bool = False) -> int:
    """A local file opened for reading, as a descriptor. `regular`: the listing found a
    regular file there. Such a file is opened without blocking and must still be one: a
    FIFO put in its place since would block the open (and every read) for ever, and a
    pyarrow open does so with the main thread deaf to stop signals. Anything else opens
    as it is (a FIFO named explicitly is read as a pipe). One fstat a file; O_NONBLOCK is
    left set, as it does nothing to a regular file's reads (open(2))."""
    if not regular:
        return os.open(path, os.O_RDONLY | _CLOEXEC)
    fd = os.open(path, OPEN_LISTED)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InputError(path, no_longer_regular(mode))
    except BaseException:
        os.close(fd)
        raise
    return fd


_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
OPEN_LISTED = os.O_RDONLY | _CLOEXEC | getattr(os, "O_NONBLOCK", 0)  # how `open_listed` opens a regular file
_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a directory"), (stat.S_ISSOCK, "a socket"))


def no_longer_regular(mode: int) -> str:
    """The reason for refusing a file listed as regular that now has `mode`."""
    kind = next((name for test, name in _KINDS if test(mode)), "a device or special file")
    return f"is no longer a regular file (now {kind}) since the inputs were listed; rerun on files at rest"


def open_input(path: str, regular: bool = False) -> IO[bytes]:
    """A local file or URI opened for buffered, seekable binary reading (`regular`: as
    for `open_listed`)."""
    if not is_uri(path):
        return os.fdopen(open_listed(path, regular), "rb") if regular else open(path, "rb")
    fs, inner = filesystem(path)
    with storage_errors(path):
        return io.BufferedReader(fs.open_input_file(inner), buffer_size=1 << 20)


def open_arrow_file(path: str, regular: bool = False) -> Any:
    """A pyarrow random-access file: memory-mapped when local, read through pyarrow.fs for
    a URI. `regular` (as for `open_listed`): mapped from a descriptor opened without
    blocking, since `pa.memory_map` opens the path itself."""
    import pyarrow as pa

    if is_uri(path):
        fs, inner = filesystem(path)
        with storage_errors(path):
            return fs.open_input_file(inner)
    if not regular:
        return pa.memory_map(path, "r")
    import mmap

    fd = open_listed(path, regular)
    try:
        size = os.fstat(fd).st_size
        if not size:  # mmap refuses an empty file; pyarrow says it is too small all the same
            return pa.BufferReader(b"")
        # Zero-copy as pa.memory_map is; the buffer keeps the map alive, the map its own descriptor.
        return pa.BufferReader(pa.py_buffer(mmap.mmap(fd, size, access=mmap.ACCESS_READ)))
    finally:
        os.close(fd)


def stamp(path: str) -> list:
    """[path, size, mtime_ns] of an input, for resume and job-merge checks."""
    if not is_uri(path):
        st = os.stat(path)
        return [path, st.st_size, st.st_mtime_ns]
    fs, inner = filesystem(path)
    with storage_errors(path):
        info = fs.get_file_info(inner)
    return [path, info.size, info.mtime_ns]


def file_size(path: str) -> int:
    if not is_uri(path):
        return os.path.getsize(path)
    fs, inner = filesystem(path)
    with storage_errors(path):
        return fs.get_file_info(inner).size or 0


def list_uri(uri: str) -> list[str] | None:
    """The files under a URI directory (recursive, sorted, hidden names skipped) as URIs;
    [uri] for a file; None when nothing exists there."""
    import pyarrow.fs as pafs

    fs, inner = filesystem(uri)
    with storage_errors(uri):
        info = fs.get_file_info(inner)
    # Every listed object's URI keeps the prefix's query: it holds the filesystem's options
    # (endpoint, region, ...), without which the object was read from the default server.
    query = split_query(uri)[1]
    prefix = _authority_prefix(uri)
    if info.type == pafs.FileType.File:
        return [uri]
    if info.type != pafs.FileType.Directory:
        return None
    selector = pafs.FileSelector(inner.rstrip("/"), recursive=True)
    with storage_errors(uri):
        files = [i.path for i in fs.get_file_info(selector) if i.type == pafs.FileType.File]
    root = inner.rstrip("/")
    visible = [p for p in files if not any(part.startswith(".") for part in p[len(root) :].split("/"))]
    if scheme_of(uri) not in NATIVE_SCHEMES:  # fsspec takes the path after :// as it is
        return [prefix + p for p in sorted(visible)]  # (and `query` is "")
    # pyarrow parses a native URI (`filesystem`): a name's `#` starts a fragment, `?` a query,
    # `%41` is "A", and a space or non-ASCII letter does not parse. Quoted, each object's URI
    # opens that object: `c#d.txt` was read as the object `c`, `g%41.txt` as `gA.txt`.
    return [prefix + urllib.parse.quote(p, safe="/") + query for p in sorted(visible)]


def _authority_prefix(uri: str) -> str:
    """What goes before a listed object's path in its URI: `scheme://`, and for a native URI
    (`filesystem`) the userinfo too (`s3://KEY:SECRET@`), which pyarrow takes as the
    credentials: without it each object was read with the environment's (another account's,
    or none). The path pyarrow gives (`bucket/key`, `/dir/file`) follows it."""
    scheme, rest = uri.split("://", 1)
    if scheme.lower() not in NATIVE_SCHEMES:  # fsspec takes the path after :// as it is
        return f"{scheme}://"
    userinfo, at, _ = rest.split("/", 1)[0].rpartition("@")
    return f"{scheme}://{userinfo}{at}"


def uri_name(uri: str) -> str:
    """The object path a URI names, as its listing gave it: a native URI (`filesystem`)
    without its query (the filesystem's options, not part of any name) and unquoted, as
    pyarrow opens it; others as they are."""
    return urllib.parse.unquote(split_query(uri)[0]) if scheme_of(uri) in NATIVE_SCHEMES else uri
