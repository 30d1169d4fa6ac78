"""Expands the user's INPUT arguments (files, directories, globs, `-`) into a sorted,
deterministic list of sources, and names the format of each.

Directory walks skip hidden entries (names starting with "."), like ripgrep does, so a
corpus checked out with git does not pull in `.git/`; this is documented in docs/cli.md.
"""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path
from typing import Sequence

from bytepatch.io.errors import InputError

STDIN = "-"
GLOB_CHARS = set("*?[")


def expand_inputs(inputs: Sequence[str]) -> list[str]:
    """Every file the inputs name, directories recursively, in a stable order.

    The order of the arguments is kept; each directory and glob is sorted. A file named
    twice is read once. Missing paths and globs matching nothing are errors.
    """
    if not inputs:
        raise InputError("<arguments>", "no input given")
    out: list[str] = []
    seen: set[str] = set()

    def add(path: str) -> None:
        key = path if path == STDIN else os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            out.append(path)

    for spec in inputs:
        if spec == STDIN:
            add(STDIN)
        elif os.path.isdir(spec):
            files = _walk(spec)
            if not files:
                raise InputError(spec, "directory contains no files")
            for f in files:
                add(f)
        elif os.path.exists(spec):
            add(spec)
        elif GLOB_CHARS & set(spec):
            matches = sorted(m for m in glob.glob(spec, recursive=True))
            files = [f for m in matches for f in (_walk(m) if os.path.isdir(m) else [m])]
            if not files:
                raise InputError(spec, "pattern matches no files")
            for f in files:
                add(f)
        else:
            raise InputError(spec, "no such file or directory")
    return out


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
