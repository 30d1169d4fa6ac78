"""Builds examples/sample/: a small, real, mixed corpus for `make demo` and the tests.

- stdlib_docstrings.jsonl: module docstrings of the Python standard library (PSF licence),
  one JSON object per module with fields `id` and `text`;
- multilingual.txt: a short text in several scripts, written for this repository.

Deterministic: the same Python version gives the same files.
"""

from __future__ import annotations

import ast
import json
import sys
import sysconfig
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "examples" / "sample"
MODULES = sorted(
    "argparse asyncio/base_events ast base64 bisect calendar collections/__init__ colorsys configparser "
    "contextlib copy csv dataclasses datetime decimal difflib email/__init__ enum fnmatch fractions ftplib "
    "functools gettext glob gzip hashlib heapq hmac html/parser http/client imaplib inspect ipaddress json/__init__ "
    "logging/__init__ mailbox mimetypes numbers operator optparse os pathlib pickle pprint queue random re/__init__ "
    "sched secrets selectors shlex shutil smtplib socket statistics string subprocess tarfile tempfile textwrap "
    "threading timeit tokenize traceback typing unittest/case urllib/parse uuid warnings weakref zipfile/__init__".split()
)


def main() -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "stdlib_docstrings.jsonl", "w", encoding="utf-8") as f:
        for name in MODULES:
            path = stdlib / f"{name}.py"
            if not path.exists():
                continue
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
            if doc:
                f.write(
                    json.dumps(
                        {"id": f"python{sys.version_info[0]}.{sys.version_info[1]}/{name}.py", "text": doc},
                        ensure_ascii=False,
                    )
                    + "\n"
                )
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
