"""File names of one segmentation job inside a dataset directory.

A dataset may be written by several independent jobs (Slurm array tasks, torchrun
ranks: `--num-shards K --shard-index I`), all into one directory. Each job owns a
namespace: its shards `train-IIIII-CCCCC.arrow`, its run state and its job manifest
`manifest-IIIII-of-KKKKK.json`. The dataset's `manifest.json` is the merge of all K
job manifests, written by whichever job finishes last (or by rank 0 after a barrier).
A single job (K = 1) uses the plain names `train-CCCCC.arrow` and `manifest.json`.

Shards are named `train-...` because Hugging Face `datasets` takes a file whose name
starts with a split keyword as that split's data: `load_dataset("arrow", data_dir=DIR)`
and `load_dataset(DIR)` then read the shards and leave `manifest.json` alone. Datasets
written before used `part-...`; both prefixes are recognised (the manifest lists the
names, so reading never depends on them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bytepatch.dataset.files import SHARD_NAME, SHARD_SUFFIX, TMP_SUFFIX
from bytepatch.dataset.manifest import JOB_MANIFEST, MANIFEST

SHARD_PREFIX = "train-"  # see the module docstring; "part-" is the name older versions wrote
# A job's run state and journal; its manifest is JOB_MANIFEST's (`manifest-00001-of-00004.json`).
_RUN_FILE = re.compile(r"^(\.bytepatch-run(-\d{5,}-of-\d{5,})?\.json|\.bytepatch-shards(-\d{5,}-of-\d{5,})?\.jsonl)$")


@dataclass(frozen=True)
class JobLayout:
    out: Path
    shard_format: str
    num_jobs: int = 1
    job: int = 0

    def __post_init__(self) -> None:
        if self.num_jobs < 1 or not 0 <= self.job < self.num_jobs:
            raise ValueError(f"--shard-index must be in [0, {self.num_jobs}), got {self.job}")

    @property
    def single(self) -> bool:
        return self.num_jobs == 1

    def _tag(self) -> str:
        return f"{self.job:05d}-of-{self.num_jobs:05d}"

    def shard_name(self, chunk: int) -> str:
        prefix = SHARD_PREFIX if self.single else f"{SHARD_PREFIX}{self.job:05d}-"
        return f"{prefix}{chunk:05d}{SHARD_SUFFIX[self.shard_format]}"

    def chunk_of(self, name: str) -> int | None:
        """The chunk index of one of this job's shard file names, else None."""
        m = SHARD_NAME.match(name)
        if not m or "." + m.group(3) != SHARD_SUFFIX[self.shard_format]:
            return None
        if self.single:
            return int(m.group(1)) if m.group(2) is None else None
        return int(m.group(2)) if m.group(2) is not None and int(m.group(1)) == self.job else None

    @property
    def run_state(self) -> Path:
        return self.out / (".bytepatch-run.json" if self.single else f".bytepatch-run-{self._tag()}.json")

    @property
    def journal(self) -> Path:
        return self.out / (".bytepatch-shards.jsonl" if self.single else f".bytepatch-shards-{self._tag()}.jsonl")

    @property
    def lock_name(self) -> str:
        return ".bytepatch-lock" if self.single else f".bytepatch-lock-{self._tag()}"

    @property
    def job_manifest(self) -> Path:
        return self.out / (MANIFEST if self.single else f"manifest-{self._tag()}.json")

    def job_manifests(self) -> list[Path]:
        return [JobLayout(self.out, self.shard_format, self.num_jobs, j).job_manifest for j in range(self.num_jobs)]

    def owns(self, name: str) -> bool:
        """Files this job writes (and may delete on --overwrite), and their temporaries."""
        name = _final_name(name)
        if name in (self.run_state.name, self.job_manifest.name, self.journal.name, MANIFEST):
            return True
        return self.chunk_of(name) is not None

    def sibling(self, name: str) -> bool:
        """Files another job of this same K-job layout writes (kept when this job starts)."""
        if self.single:
            return False
        tag = f"-of-{self.num_jobs:05d}"
        name = _final_name(name)  # a sibling's temporary is the sibling's too
        if name.startswith(("manifest-", ".bytepatch-run-", ".bytepatch-shards-")) and name.endswith(
            (f"{tag}.json", f"{tag}.jsonl")
        ):
            return not self.owns(name)
        # A sibling writes this run's names in this run's format (every job of one run has the
        # same settings): a shard of the other format, or of the older `part-` prefix, is an
        # earlier run's, even in this job's own namespace, and kept it sat beside the new
        # shards for ever (no job owned it), read by a glob reader with the new rows.
        m = SHARD_NAME.match(name)
        if not m or not name.startswith(SHARD_PREFIX) or "." + m.group(3) != SHARD_SUFFIX[self.shard_format]:
            return False
        return m.group(2) is not None and int(m.group(1)) < self.num_jobs and not self.owns(name)


_ANY_TMP = re.compile(r"^\.(.+?\.(?:arrow|parquet|json|jsonl))\..+\.tmp$")


def _final_name(name: str) -> str:
    """The final name a temporary stands for (".x.arrow.<host>-<pid>-<rand>.tmp" -> "x.arrow")."""
    m = _ANY_TMP.match(name)
    return m.group(1) if m else name


def job_file(name: str) -> bool:
    """A shard or a job's own file (run state, journal, job manifest) under its final name:
    what a segmentation run leaves in its output before the manifest."""
    return bool(SHARD_NAME.match(name) or JOB_MANIFEST.match(name) or _RUN_FILE.match(name))


def written_by_bytepatch(name: str) -> bool:
    """Any file some segmentation job writes; anything else in the directory is the user's."""
    if name == MANIFEST or job_file(name) or name.startswith(".bytepatch-lock"):
        return True
    # Temporaries are "." + the final name + a unique tail: "..bytepatch-run-...json.<host>-<pid>-<rand>.tmp".
    return name.startswith((".part-", ".train-", ".manifest", ".bytepatch-", "..bytepatch-")) and name.endswith(
        TMP_SUFFIX
    )
