"""Expands the user's INPUT arguments (files, directories, globs, `-`) into a sorted,
deterministic list of sources, and names the format of each.

Directory walks skip hidden entries (names starting with "."), like ripgrep does, so a
corpus checked out with git does not pull in `.git/`; they follow symbolic links (with
loop detection) and stop, naming the path, at anything they cannot read or that is not
a regular file (a FIFO would block forever). All of this is documented in docs/cli.md.
"""

from __future__ import annotations

import errno
import glob
import json
import operator
import os
import re
import stat
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from bytepatch.io.errors import InputError
from bytepatch.io.fs import (
    NATIVE_SCHEMES,
    is_uri,
    list_uri,
    open_input,
    scheme_of,
    shown_path,
    split_query,
    uri_name,
    without_query,
)

STDIN = "-"
GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Source:
    """One input file: where to read it, and the name its document ids start with."""

    path: str
    name: str  # the path relative to the INPUT argument's root (see `expand_sources`)
    # From the one stat taken when the inputs are listed (None for stdin, URIs, or a
    # file that could not be stat'ed, whose reader names the error):
    size: int | None = None
    mtime_ns: int | None = None
    regular: bool = False  # a regular file (not a FIFO, a device, stdin or a URI)


Note = Optional[Callable[[str], None]]  # where a listing's notes go; None: not said


def note_to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def input_paths(inputs: Sequence[str | os.PathLike]) -> list[str]:
    """The INPUT arguments as given from Python: a list (any sequence) of str paths, URIs
    or `pathlib.Path`s. One str was read as a list of one-character paths (refused as
    "the output directory is inside the input directory /"), and a Path failed with
    "argument of type 'PosixPath' is not iterable"."""
    refuse_one_path(inputs, "inputs", "paths")
    out = []
    for i, spec in enumerate(inputs):
        path = os.fspath(spec) if isinstance(spec, os.PathLike) else spec
        if not isinstance(path, str):
            raise TypeError(f"input {i} must be a path (str or pathlib.Path), got {type(spec).__name__}: {spec!r}")
        out.append(path)
    return out


def refuse_one_path(value: object, name: str, what: str) -> None:
    """Refuse one path given from Python where a list of them is taken (`name`, a list of
    `what`): a str was read as a list of one-character paths, a Path failed as not iterable."""
    if isinstance(value, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} is a list of {what}, e.g. [{os.fspath(value)!r}], not one path")


def expand_inputs(inputs: Sequence[str], note: Note = note_to_stderr) -> list[str]:
    """Every file the inputs name, directories recursively, in a stable order
    (the paths of `expand_sources`)."""
    return [s.path for s in expand_sources(inputs, note)]


def expand_sources(inputs: Sequence[str], note: Note = note_to_stderr, output: str | None = None) -> list[Source]:
    """Every file the inputs name, directories recursively, in a stable order, each with
    its id name.

    The order of the arguments is kept; each directory and glob is sorted. A file named
    twice is read once. Missing paths and globs matching nothing are errors.

    `note` gets a line about paths that name a file listed before, and about entries a
    `datasets` save_to_disk directory holds beside its data (None: not said, when another
    listing of the same inputs says it).

    `output`: a local directory the run writes; a walk that reaches it (through a glob or
    a link) or a file inside it is an error, since the run would read its own shards.

    Id names do not depend on the working directory: a file inside a directory argument
    is named by its path relative to that directory (`corpus/` -> `a/b.jsonl`), a file
    argument by its file name, a glob match by its path relative to the directory before
    the first wildcard, stdin `<stdin>`; a name that ends like a line or row id
    (`a.jsonl:3`) is escaped (`escaped_id_name`). Two inputs with the same name would give
    documents the same ids, which is an error naming both.
    """
    inputs = input_paths(inputs)
    if not inputs:
        raise InputError("<arguments>", "no input given")
    avoid = _Avoid.of(output)
    out: list[Source] = []
    seen: dict = {}  # (device, inode) or path -> the first path naming it
    again: list[tuple[str, str]] = []  # (path, the earlier path of the same file)
    names: dict[str, str] = {}
    walked: dict[str, os.stat_result] = {}  # what walking directories stat'ed already
    saved: list[str] = []  # `datasets` save_to_disk directories walked (one of no rows lists no files)

    def add(path: str, root: str | None) -> None:
        local = path != STDIN and not is_uri(path)
        st = (walked.pop(path, None) or _stat(path)) if local else None
        # (device, inode) says two paths are one file (hard links too) in one stat, where
        # `realpath` would lstat every component of the path.
        key = (st.st_dev, st.st_ino) if st else path
        if key in seen:
            if path != seen[key]:
                again.append((path, seen[key]))
            return
        seen[key] = path
        name = "<stdin>" if path == STDIN else _id_name(path, root)
        try:
            name.encode("utf-8")  # ids are stored as UTF-8
        except UnicodeEncodeError:
            raise InputError(
                shown_path(path), "file name is not valid UTF-8, so it cannot name its documents; rename it"
            ) from None
        if name in names:
            raise InputError(
                path,
                f"has the same id name {name!r} as {names[name]}, so their documents would share "
                "ids; pass their common directory instead",
            )
        names[name] = path
        if st is None:
            out.append(Source(path, name))
        else:
            out.append(Source(path, name, st.st_size, st.st_mtime_ns, stat.S_ISREG(st.st_mode)))

    for spec in inputs:
        if spec == STDIN:
            add(STDIN, None)
        elif is_uri(spec):  # s3://, gs://, hf://, ...: listed through pyarrow.fs
            files = list_uri(spec)
            if not files:
                raise InputError(spec, "no such object or prefix" if files is None else "prefix holds no objects")
            files = _saved_datasets_in_listing(spec, files, note, saved)
            for f in files:
                add(f, None if f == spec else spec.rstrip("/"))
        elif os.path.isdir(spec):
            before = len(saved)  # `saved` holds every input's: only this one's may excuse no files
            files = _walk(spec, walked, note, avoid, saved)
            if not files and len(saved) == before:  # a saved dataset of no rows is an input of no documents
                raise InputError(spec, "directory contains no files")
            for f in files:
                add(f, spec)
        elif os.path.exists(spec):
            avoid.check_file(spec)
            add(spec, None)
        elif GLOB_CHARS & set(spec):
            before = len(saved)
            matches = sorted(m for m in glob.glob(spec, recursive=True))
            files = [
                f
                for m in matches
                for f in (_walk(m, walked, note, avoid, saved) if os.path.isdir(m) else _regular(m, avoid))
            ]
            if not files and len(saved) == before:
                raise InputError(spec, "pattern matches no files")
            root = _glob_root(spec)
            for f in files:
                add(f, root)
        elif os.path.islink(spec):  # there, but leads nowhere: _stat says how
            _stat(spec)
            raise InputError(spec, "no such file or directory")  # (gone since, or back)
        else:
            raise InputError(spec, "no such file or directory")
    if again and note is not None:  # hard or symbolic links to a file listed before: read once, said once
        path, first = again[0]
        note(
            f"note: {len(again):,} input path(s) name a file listed before (a hard or symbolic link), "
            f"read once (first: {path}, the same file as {first})"
        )
    return out


def check_readable_twice(inputs: Sequence[str], why: str) -> None:
    """Refuse stdin and a named FIFO, socket or device among `inputs` for a command that
    reads its inputs twice (`why`, e.g. "--target-patch-size (a sample to calibrate the
    threshold, then the run)"): the second read finds them spent, so the command went on
    with nothing (a dataset of 0 documents, exit 0) or waited for ever on the pipe.
    Regular files, directories, globs and URIs can be read again; a missing path is left
    to the listing, which names it."""
    for spec in inputs:
        if spec == STDIN:
            name, kind = "<stdin>", "standard input"
        elif is_uri(spec):
            continue
        else:
            try:
                mode = os.stat(spec).st_mode
            except OSError:
                continue
            if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
                continue
            name, kind = shown_path(spec), _kind(mode)
        raise InputError(
            name, f"{kind} can be read only once, and {why} reads the inputs twice: save it to a file and name that"
        )


def _id_name(path: str, root: str | None) -> str:
    if is_uri(path):  # ids name objects as stored (`c#d.txt`), not as quoted in their URIs (`c%23d.txt`)
        path, root = uri_name(path), None if root is None else uri_name(root)
    if root is None:
        return escaped_id_name(os.path.basename(path))
    prefix = root.rstrip("/") + "/"
    if os.sep == "/" and path.startswith(prefix):  # a walk's path is root/...: no need to normalise
        return escaped_id_name(path[len(prefix) :])
    relative = os.path.relpath(path, root)
    return escaped_id_name(relative if os.sep == "/" else relative.replace(os.sep, "/"))


# A name ending like a line or row id (`a.jsonl:3`, `a.parquet#0`), or like the escape of one: `%3A3`,
# and `%253A3`, the escape of `%3A3` (any number of `25`). The escapes of such names end so again, and
# every other name is kept: no escape equals a kept name (with `%3A` alone, `a%3A3` and `a%253A3` both
# gave `a%253A3`).
_ID_LIKE_END = re.compile(r"(?:[:#]|%(?:25)*(?:3A|23))[0-9]+\Z")


def escaped_id_name(name: str) -> str:
    """`name` as the start of its documents' ids (docs/dataset.md, "Stable ids").

    Ids are `name` (a whole file), `name:line` or `name#row`, so a file named `a.jsonl:3`
    would give the id of line 3 of `a.jsonl`. A name that ends in `:` or `#` and digits (or in
    `%3A`/`%23`, `%253A`/`%2523`... and digits) has its `%`, `:` and `#` percent-encoded
    (`a.jsonl%3A3`); every other name is its id name as it is, so ids made before this rule stay valid. No
    escaped name ends like a line or row id, and no two names share one."""
    if not _ID_LIKE_END.search(name):
        return name
    return name.replace("%", "%25").replace(":", "%3A").replace("#", "%23")


def _glob_root(pattern: str) -> str:
    """The directory before the first wildcard of a glob ("." when it starts with one)."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if GLOB_CHARS & set(part):
            break
        fixed.append(part)
    return str(Path(*fixed)) if fixed else "."


@dataclass(frozen=True)
class _Avoid:
    """The output directory a listing must not read: its (device, inode), and its path
    as a prefix (`abspath`, string work only: a listing may name many thousands of files)."""

    name: str = ""
    key: tuple[int, int] | None = None
    prefix: str | None = None

    @classmethod
    def of(cls, output: str | None) -> "_Avoid":
        if output is None or is_uri(str(output)):
            return cls()
        try:
            st = os.stat(output)
        except OSError:
            st = None  # not there yet: nothing under it to read
        key = (st.st_dev, st.st_ino) if st is not None and stat.S_ISDIR(st.st_mode) else None
        return cls(str(output), key, os.path.abspath(output).rstrip(os.sep) + os.sep)

    def check_dir(self, path: str, key: tuple[int, int]) -> None:
        if key == self.key:
            raise InputError(
                path,
                f"is the output directory {self.name} (the inputs lead into it), so the run would read "
                "its own shards as input; write the dataset outside the inputs",
            )

    def check_file(self, path: str) -> None:
        if self.prefix is not None and os.path.abspath(path).startswith(self.prefix):
            raise InputError(path, f"is inside the output directory {self.name}, which the run replaces")


def _walk(
    root: str,
    stats: dict[str, os.stat_result] | None = None,
    note: Note = note_to_stderr,
    avoid: _Avoid = _Avoid(),
    saved: list[str] | None = None,
) -> list[str]:
    """Every regular file under `root`: each directory's files (sorted), then its
    subdirectories (sorted). Nothing is skipped silently: an unreadable directory, a
    broken link, a symlink loop or a FIFO/socket/device stops the walk naming the path.
    Symbolic links are followed (a link to a directory is read like the directory); a
    loop is detected by the (device, inode) of the directories above. `stats` gets each
    file's stat, taken to tell files from directories, so it is not taken twice. `note`:
    as for `expand_sources`, here for the entries a `datasets` directory skips. `saved`
    gets each `datasets` save_to_disk directory read (one of no rows adds no file)."""
    found: list[str] = []
    st = _stat(root)
    avoid.check_dir(root, (st.st_dev, st.st_ino))
    _visit(root, {(st.st_dev, st.st_ino)}, found, {} if stats is None else stats, note, avoid, saved)
    return found


def _visit(
    path: str,
    above: set[tuple[int, int]],
    found: list[str],
    stats: dict[str, os.stat_result],
    note: Note,
    avoid: _Avoid = _Avoid(),
    saved_dirs: list[str] | None = None,
) -> None:
    try:
        with os.scandir(path) as it:
            entries = sorted((e for e in it if not e.name.startswith(".")), key=operator.attrgetter("name"))
    except OSError as exc:
        raise InputError(path, f"cannot read directory: {exc.strerror or exc}") from exc
    # Per entry: no `os.path.join` (twice per file, 15 of the 60 ms that listing 2,942 files
    # took), and the entry's own stat call.
    prefix = os.path.join(path, "")
    files, subdirs = [], []
    for entry in entries:
        name = entry.name
        full = prefix + name
        st = _stat(full, entry)
        if stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key in above:
                raise InputError(full, "symbolic link loop: it leads back to a directory above it")
            avoid.check_dir(full, key)
            subdirs.append((full, key))
        elif stat.S_ISREG(st.st_mode):
            files.append(name)
            stats[full] = st
        else:
            raise InputError(full, f"not a regular file ({_kind(st.st_mode)}); directories are read for files only")
    saved = hf_saved_dataset_files(path, files)
    if saved is not None:  # a `datasets` save_to_disk directory: its rows, not its JSON files
        found += saved
        if saved_dirs is not None:
            saved_dirs.append(path)
        used = {HF_STATE, HF_INFO, *(os.path.basename(f) for f in saved)}
        other = [name for name in files if name not in used] + [os.path.basename(d) for d, _ in subdirs]
        if other and note is not None:  # cache files of a `map`, or files put there by hand: skipped, but said
            note(
                f"note: {path} is a Hugging Face `datasets` save_to_disk directory: reading the "
                f"{len(saved)} data file(s) its state.json lists, skipping {len(other)} other "
                f"entr{'y' if len(other) == 1 else 'ies'} (first: {sorted(other)[0]})"
            )
        return
    if HF_DATASET_DICT in files:  # a saved DatasetDict: its splits are the subdirectories
        files.remove(HF_DATASET_DICT)
        subdirs = _dataset_dict_splits(path, subdirs, note)
    found += [prefix + f for f in files]
    for full, key in subdirs:
        _visit(full, above | {key}, found, stats, note, avoid, saved_dirs)


def _dataset_dict_splits(
    path: str, subdirs: list[tuple[str, tuple[int, int]]], note: Note
) -> list[tuple[str, tuple[int, int]]]:
    """The split directories of a saved `DatasetDict` in the order its dataset_dict.json
    lists them, as `load_from_disk` gives them (a sorted walk put "test" before "train");
    a directory it does not list is skipped, and said, as `load_from_disk` skips it."""
    splits = _split_names(os.path.join(path, HF_DATASET_DICT))
    by_name = {os.path.basename(full): (full, key) for full, key in subdirs}
    missing = [name for name in splits if name not in by_name]
    if missing:
        raise InputError(
            os.path.join(path, missing[0]),
            "split listed in dataset_dict.json but missing (an incomplete save_to_disk?)",
        )
    other = sorted(set(by_name) - set(splits))
    if other and note is not None:
        note(
            f"note: {path} is a Hugging Face `datasets` DatasetDict: reading the split(s) its "
            f"dataset_dict.json lists ({', '.join(splits)}), skipping {len(other)} other "
            f"director{'y' if len(other) == 1 else 'ies'} (first: {other[0]})"
        )
    return [by_name[name] for name in dict.fromkeys(splits)]


def _regular(path: str, avoid: _Avoid = _Avoid()) -> list[str]:
    """[path] if it is a regular file (a glob match), else an error naming it."""
    avoid.check_file(path)
    st = _stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise InputError(path, f"not a regular file ({_kind(st.st_mode)}); globs match files only")
    return [path]


def _stat(path: str, entry: os.DirEntry | None = None) -> os.stat_result:
    """`os.stat(path)` (following links), or `entry.stat()` for the directory entry of `path`."""
    try:
        return os.stat(path) if entry is None else entry.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            what = "symbolic link loop (it leads back to itself)"
        elif os.path.islink(path):
            what = "broken symbolic link"
        else:
            what = f"cannot read: {exc.strerror or exc}"
        raise InputError(path, what) from exc


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


HF_STATE, HF_INFO, HF_DATASET_DICT = "state.json", "dataset_info.json", "dataset_dict.json"


def hf_saved_dataset_files(directory: str, filenames: list[str]) -> list[str] | None:
    """The Arrow files of a Hugging Face `Dataset.save_to_disk` directory, in row order
    (as its state.json lists them), or None when `directory` is not one."""
    if HF_STATE not in filenames or HF_INFO not in filenames:
        return None
    files = [os.path.join(directory, name) for name in _state_names(os.path.join(directory, HF_STATE))]
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise InputError(missing[0], "listed in state.json but missing (an incomplete save_to_disk directory?)")
    return files


def _read_json(path: str) -> Any:
    """A local or object-storage JSON file's value."""
    with open_input(path) as f:
        return json.loads(f.read().decode("utf-8"))


def _split_names(index: str) -> list[str]:
    """The splits a saved `DatasetDict`'s dataset_dict.json lists, in its order."""
    try:
        data = _read_json(index)
        splits = data.get("splits") if isinstance(data, dict) else None
        if not isinstance(splits, list) or not all(isinstance(name, str) for name in splits):
            raise ValueError("expected a JSON object whose 'splits' is a list of split names")
    except (OSError, ValueError) as exc:
        raise InputError(index, f"not a readable `datasets` DatasetDict index: {exc}") from exc
    return list(dict.fromkeys(splits))


def _state_names(state_path: str) -> list[str]:
    """The data files a save_to_disk state.json lists, in row order, as names inside its directory."""
    try:
        state = _read_json(state_path)
        entries = state.get("_data_files") if isinstance(state, dict) else None
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("filename"), str) for e in entries
        ):  # said, not a KeyError's bare "'_data_files'"
            raise ValueError("expected a JSON object whose '_data_files' lists {'filename': ...} entries")
        names = [entry["filename"] for entry in entries]
    except (OSError, ValueError) as exc:
        raise InputError(state_path, f"not a readable `datasets` save_to_disk state file: {exc}") from exc
    for name in names:
        # save_to_disk lists Arrow files inside the directory (data-00000-of-00001.arrow). Another
        # name was read as it stood: `../notes.txt` or `/etc/hostname` became documents of the dataset.
        parts = name.replace("\\", "/").split("/")
        if os.path.isabs(name) or ".." in parts or not name.endswith(".arrow"):
            raise InputError(
                state_path,
                f"lists the data file {name!r}, not an Arrow file inside the directory as save_to_disk writes them; "
                "a damaged or hand-edited state.json?",
            )
    return names


def _saved_datasets_in_listing(spec: str, files: list[str], note: Note, saved: list[str]) -> list[str]:
    """The listing of a URI prefix (`spec`) with the `datasets` save_to_disk directories in it
    read as local ones are (`_visit`): a saved dataset as the Arrow files its state.json lists,
    a saved DatasetDict as its own files and then the splits its dataset_dict.json lists, in
    that order; anything else they hold is skipped, and said. (Their JSON files were read as
    JSON Lines: "dataset_info.json:1: malformed JSON".) `saved` gets each saved dataset read."""

    def parent(uri: str) -> str:
        return split_query(uri)[0].rpartition("/")[0]

    def name(uri: str) -> str:
        return split_query(uri)[0].rpartition("/")[2]

    children: dict[str, set[str]] = {}
    for uri in files:
        children.setdefault(parent(uri), set()).add(name(uri))
    datasets_dirs = {d for d, names in children.items() if HF_STATE in names and HF_INFO in names}
    dict_dirs = {d for d, names in children.items() if HF_DATASET_DICT in names} - datasets_dirs
    if not datasets_dirs and not dict_dirs:
        return files
    query = split_query(files[0])[1]  # the prefix's filesystem options: every object's URI carries them
    native = scheme_of(files[0]) in NATIVE_SCHEMES  # listed as quoted paths (`list_uri`)
    listed = set(files)

    def subdirectory(directory: str, entry: str) -> str:
        return f"{directory}/{urllib.parse.quote(entry, safe='/') if native else entry}"

    def child(directory: str, entry: str) -> str:
        return subdirectory(directory, entry) + query

    def under(directory: str, uris: list[str]) -> list[str]:
        return [u for u in uris if (parent(u) + "/").startswith(directory + "/")]

    def governing(uri: str, below: str | None) -> str | None:
        """The outermost saved dataset or DatasetDict directory above `uri`, below `below`."""
        path = parent(uri)
        found = None
        while path and path != below and (below is None or path.startswith(below + "/")):
            if path in datasets_dirs or path in dict_dirs:
                found = path
            path = path.rpartition("/")[0]
        return found

    def resolve(directory: str | None, uris: list[str]) -> list[str]:
        if directory in datasets_dirs:
            state = child(directory, HF_STATE)
            data = [child(directory, entry) for entry in _state_names(state)]
            missing = [u for u in data if u not in listed]
            if missing:
                raise InputError(missing[0], "listed in state.json but missing (an incomplete save_to_disk directory?)")
            saved.append(directory)
            return data
        out: list[str] = []
        if directory in dict_dirs:
            out += [u for u in uris if parent(u) == directory and name(u) != HF_DATASET_DICT]
            for split in _split_names(child(directory, HF_DATASET_DICT)):
                split_dir = subdirectory(directory, split)
                if not under(split_dir, uris):
                    raise InputError(
                        split_dir, "split listed in dataset_dict.json but missing (an incomplete save_to_disk?)"
                    )
                out += resolve(split_dir, under(split_dir, uris))
            return out
        done: set[str] = set()
        for u in uris:
            owner = governing(u, directory)
            if owner is None:
                out.append(u)
            elif owner not in done:
                done.add(owner)
                out += resolve(owner, under(owner, uris))
        return out

    out = resolve(None, files)
    kept = set(out)
    other = [u for u in files if u not in kept and not (name(u) in (HF_STATE, HF_INFO) and parent(u) in datasets_dirs)]
    other = [u for u in other if not (name(u) == HF_DATASET_DICT and parent(u) in dict_dirs)]
    if other and note is not None:  # as for a local directory: skipped, but said
        note(
            f"note: {spec} holds Hugging Face `datasets` save_to_disk data: reading the data files its "
            f"state.json and dataset_dict.json files list, skipping {len(other)} other object(s) (first: {other[0]})"
        )
    return out


def detect_format(path: str, forced: str = "auto") -> str:
    """The reader for a path: the forced format, else by suffix; stdin defaults to text."""
    if forced != "auto":
        return forced
    if path == STDIN:
        return "text"
    # not pathlib: called per file, thousands of times; a URI's query holds options, not a suffix
    name = os.path.basename(without_query(path)).lower()
    # ".json": as Hugging Face names JSON Lines files (`load_dataset("json")` reads them).
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json", ".json.gz")):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    # ".arrows": the Arrow project's name for a file in the IPC stream format.
    if name.endswith((".arrow", ".arrows", ".feather", ".ipc")):
        return "arrow"
    return "text"  # compressed data or a binary format under another name: `io/sniff.py` says so on reading
