"""Expands the user's INPUT arguments (files, directories, globs, `-`) into a sorted,
deterministic list of sources, and names the format of each.

Directory walks skip hidden entries (names starting with "."), like ripgrep does, so a
corpus checked out with git does not pull in `.git/`; this is documented in docs/cli.md.
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from bytepatch.io.errors import InputError

STDIN = "-"
GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Source:
    """One input file: where to read it, and the name its document ids start with."""

    path: str
    name: str  # the path relative to the INPUT argument's root (see `expand_sources`)


def expand_inputs(inputs: Sequence[str]) -> list[str]:
    """Every file the inputs name, directories recursively, in a stable order
    (the paths of `expand_sources`)."""
    return [s.path for s in expand_sources(inputs)]


def expand_sources(inputs: Sequence[str]) -> list[Source]:
    """Every file the inputs name, directories recursively, in a stable order, each with
    its id name.

    The order of the arguments is kept; each directory and glob is sorted. A file named
    twice is read once. Missing paths and globs matching nothing are errors.

    Id names do not depend on the working directory: a file inside a directory argument
    is named by its path relative to that directory (`corpus/` -> `a/b.jsonl`), a file
    argument by its file name, a glob match by its path relative to the directory before
    the first wildcard, stdin `<stdin>`. Two inputs with the same name would give
    documents the same ids, which is an error naming both.
    """
    if not inputs:
        raise InputError("<arguments>", "no input given")
    out: list[Source] = []
    seen: set[str] = set()
    names: dict[str, str] = {}

    def add(path: str, root: str | None) -> None:
        key = path if path == STDIN else os.path.realpath(path)
        if key in seen:
            return
        seen.add(key)
        name = "<stdin>" if path == STDIN else _id_name(path, root)
        if name in names:
            raise InputError(path, f"has the same id name {name!r} as {names[name]}, so their documents would share "
                                   "ids; pass their common directory instead")  # fmt: skip
        names[name] = path
        out.append(Source(path, name))

    for spec in inputs:
        if spec == STDIN:
            add(STDIN, None)
        elif os.path.isdir(spec):
            files = _walk(spec)
            if not files:
                raise InputError(spec, "directory contains no files")
            for f in files:
                add(f, spec)
        elif os.path.exists(spec):
            add(spec, None)
        elif GLOB_CHARS & set(spec):
            matches = sorted(m for m in glob.glob(spec, recursive=True))
            files = [f for m in matches for f in (_walk(m) if os.path.isdir(m) else [m])]
            if not files:
                raise InputError(spec, "pattern matches no files")
            root = _glob_root(spec)
            for f in files:
                add(f, root)
        else:
            raise InputError(spec, "no such file or directory")
    return out


def _id_name(path: str, root: str | None) -> str:
    if root is None:
        return os.path.basename(path)
    return Path(os.path.relpath(path, root)).as_posix()


def _glob_root(pattern: str) -> str:
    """The directory before the first wildcard of a glob ("." when it starts with one)."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if GLOB_CHARS & set(part):
            break
        fixed.append(part)
    return str(Path(*fixed)) if fixed else "."


def _walk(root: str) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        saved = hf_saved_dataset_files(dirpath, filenames)
        if saved is not None:  # a `datasets` save_to_disk directory: its rows, not its JSON files
            found += saved
            dirnames[:] = []
            continue
        names = [f for f in sorted(filenames) if not f.startswith(".")]
        if HF_DATASET_DICT in names:  # a saved DatasetDict: its splits are the subdirectories
            names.remove(HF_DATASET_DICT)
        found += [os.path.join(dirpath, f) for f in names]
    return found


HF_STATE, HF_INFO, HF_DATASET_DICT = "state.json", "dataset_info.json", "dataset_dict.json"


def hf_saved_dataset_files(directory: str, filenames: list[str]) -> list[str] | None:
    """The Arrow files of a Hugging Face `Dataset.save_to_disk` directory, in row order
    (as its state.json lists them), or None when `directory` is not one."""
    if HF_STATE not in filenames or HF_INFO not in filenames:
        return None
    state_path = os.path.join(directory, HF_STATE)
    try:
        with open(state_path, encoding="utf-8") as f:
            state = json.load(f)
        files = [os.path.join(directory, entry["filename"]) for entry in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(state_path, f"not a readable `datasets` save_to_disk state file: {exc}") from exc
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise InputError(missing[0], "listed in state.json but missing (an incomplete save_to_disk directory?)")
    return files


def detect_format(path: str, forced: str = "auto") -> str:
    """The reader for a path: the forced format, else by suffix; stdin defaults to text."""
    if forced != "auto":
        return forced
    if path == STDIN:
        return "text"
    name = Path(path).name.lower()
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".arrow", ".feather", ".ipc")):
        return "arrow"
    return "text"
