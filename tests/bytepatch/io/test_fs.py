"""bytepatch.io.fs: a URI whose scheme needs a package that is not installed; listed URIs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bytepatch.cli.main import cli
from bytepatch.dataset import open_dataset
from bytepatch.io import ReaderConfig, read_source
from bytepatch.io.fs import list_uri, uri_name

WITHOUT_HUB = """
import sys
sys.modules["huggingface_hub"] = None  # as if it were not installed
from bytepatch.io.errors import InputError
from bytepatch.io.fs import filesystem
try:
    filesystem("hf://datasets/org/name/data.jsonl")
except InputError as exc:
    print(exc)
"""


def test_an_hf_uri_without_huggingface_hub_names_the_bytepatch_extra():
    """README: hf:// URIs come with the `datasets` extra; the error says so, in one line."""
    out = subprocess.run(
        [sys.executable, "-c", WITHOUT_HUB], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert "hf://datasets/org/name/data.jsonl" in lines[0]
    assert "pip install huggingface_hub" in lines[0] and "pip install 'bytepatch[datasets]'" in lines[0]


# Object names that a URI does not carry as they are: `#` starts a fragment, `?` a query,
# `%41` is "A"; a space or a non-ASCII letter does not parse.
AWKWARD_NAMES = {
    "c": b"one\n",
    "c#d.txt": b"two\n",
    "g%41.txt": b"percent\n",
    "gA.txt": b"A\n",
    "sp ace.txt": b"space\n",
    "h\u00e9.txt": b"accent\n",
    "q?x=1.txt": b"query\n",
}


def test_a_listed_uri_prefix_reads_each_object_under_its_own_name(tmp_path: Path):
    """A listing's URIs were the object paths pasted after the scheme, and pyarrow parses
    them: `c#d.txt` was read as the object `c` and `g%41.txt` as `gA.txt` (exit 0, wrong
    rows), `hé.txt` stopped the run with a parse error."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, data in AWKWARD_NAMES.items():
        (corpus / name).write_bytes(data)
    uris = list_uri(f"file://{corpus}/")
    assert len(uris) == len(AWKWARD_NAMES)
    assert {uri_name(u).rsplit("/", 1)[1] for u in uris} == set(AWKWARD_NAMES)
    for uri in uris:
        name = uri_name(uri).rsplit("/", 1)[1]
        assert [d.data for d in read_source(uri, ReaderConfig())] == [AWKWARD_NAMES[name]], uri
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["segment", f"file://{corpus}", "-o", str(out), "--patcher", "space", "-q"])
    assert result.exit_code == 0, result.output
    assert {r.id: bytes(r.bytes) for r in open_dataset(out)} == AWKWARD_NAMES


def test_a_query_on_a_uri_prefix_stays_on_each_listed_object_and_out_of_its_id(tmp_path: Path):
    """The query holds the filesystem's options (`s3://b/p/?endpoint_override=...`): the
    listed objects' URIs lost it (read with default options), their ids were `../x`, and
    a JSONL object with the query was read as text (its name no longer ended in `.jsonl`)."""
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "a.txt").write_bytes(b"plain\n")
    (corpus / "sub" / "b.jsonl").write_bytes(b'{"text": "json"}\n')
    uris = list_uri(f"file://{corpus}/?use_mmap=true")
    assert uris == [f"file://{corpus}/a.txt?use_mmap=true", f"file://{corpus}/sub/b.jsonl?use_mmap=true"]
    assert [uri_name(u) for u in uris] == [f"file://{corpus}/a.txt", f"file://{corpus}/sub/b.jsonl"]
    out = tmp_path / "out"
    args = ["segment", f"file://{corpus}/?use_mmap=true", "-o", str(out), "--patcher", "space", "-q"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert {r.id: bytes(r.bytes) for r in open_dataset(out)} == {"a.txt": b"plain\n", "sub/b.jsonl:1": b"json"}


@pytest.mark.parametrize(
    "text, shown",
    [
        ("s3://AKID:se%2Fcret@bucket/p/x.txt", "s3://AKID:***@bucket/p/x.txt"),
        # pyarrow's message quoting a URI whose secret holds a raw `/` (it refuses to parse it)
        ("Cannot parse URI: 's3://AKID:ab/c+d@bucket/x' due to", "Cannot parse URI: 's3://AKID:***@bucket/x' due to"),
        (
            "s3://b/p/?endpoint_override=h:9000&secret_key=S&session_token=T&access_key=A&region=r",
            "s3://b/p/?endpoint_override=h:9000&secret_key=***&session_token=***&access_key=***&region=r",
        ),
        ("s3://b/p?secret_key=S: cannot open", "s3://b/p?secret_key=***: cannot open"),
        (
            "https://h/o?X-Amz-Credential=C&X-Amz-Date=1&X-Amz-Signature=S",  # a presigned URL
            "https://h/o?X-Amz-Credential=***&X-Amz-Date=1&X-Amz-Signature=***",
        ),
        ("a gs://u:p@b/x and hf://datasets/o/n", "a gs://u:***@b/x and hf://datasets/o/n"),
        # nothing secret: as it is
        ("/data/a:b@c.txt", None),
        ("http://host:8080/p?region=r", None),
        ("gs://anonymous@bucket/p", None),
    ],
)
def test_redacted_hides_a_uris_password_and_secret_query_options(text: str, shown: str | None):
    from bytepatch.redact import redacted

    assert redacted(text) == (text if shown is None else shown)
    assert redacted(redacted(text)) == redacted(text)


def test_an_input_error_hides_a_uris_secret_in_its_message_and_fields_through_pickling():
    import pickle

    from bytepatch.io import InputError

    exc = InputError("s3://AKID:SECRET@b/x.jsonl", "storage error: 's3://AKID:SECRET@b/x.jsonl' refused", line=3)
    for e in (exc, pickle.loads(pickle.dumps(exc))):
        assert str(e) == "s3://AKID:***@b/x.jsonl:3: storage error: 's3://AKID:***@b/x.jsonl' refused"
        assert "SECRET" not in e.source + e.reason


def test_a_file_uri_output_is_created_as_a_local_path_is(tmp_path: Path):
    """`-o file:///.../out` (docs/cli.md: a path or `file://`, through the OS) into a
    directory that does not exist yet: the whole run was patched, then every upload failed
    (`Failed to open local file ... No such file or directory`): the OS, unlike an object
    store, needs the directory. Now it is made first, as for a plain path."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("one document here")
    (corpus / "b.jsonl").write_text('{"text": "two"}\n{"text": "three"}\n')
    out = tmp_path / "not" / "yet"
    args = ["segment", str(corpus), "-o", f"file://{out}", "--patcher", "space", "-q", "--shard-size-mb", "0.000001"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    dataset = open_dataset(out)
    assert {r.id: bytes(r.bytes) for r in dataset} == {
        "a.txt": b"one document here",
        "b.jsonl:1": b"two",
        "b.jsonl:2": b"three",
    }
    assert len(dataset.manifest["shards"]) == 3
