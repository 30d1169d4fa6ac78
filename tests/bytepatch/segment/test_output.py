"""`check_output_apart`: an output the inputs would read is refused, by the inputs as
given (before the output exists); one they never reach is not."""

from __future__ import annotations

import pytest

from bytepatch.errors import OutputError
from bytepatch.segment.output import check_output_apart

# (pattern, output, whether the glob would read the output)
CASES = [
    ("data/*", "data/out", True),
    ("data/**", "data/a/b/out", True),
    ("data/**/*.txt", "data/out/x.txt", True),
    ("*", "out", True),
    ("./data/../data/*", "data/out", True),
    ("data/[ab]*", "data/b-out", True),
    ("*", ".out", False),  # glob's wildcards never take a leading "."
    ("data/*", "data/.out", False),
    ("data/**", "data/.out", False),
    ("data/*", "data/sub/.cache/out", False),  # walked into, but a hidden part is never walked
    ("data/*.jsonl", "data/out", False),
    ("data/*.jsonl", "data_out", False),
    ("data/[ab].txt", "data/c", False),
]


@pytest.mark.parametrize("pattern, output, reached", CASES)
def test_a_pattern_refuses_an_output_exactly_when_it_reaches_it(tmp_path, monkeypatch, pattern, output, reached):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    if reached:
        with pytest.raises(OutputError, match="inside what the input pattern"):
            check_output_apart([pattern], output)
    else:
        check_output_apart([pattern], output)
