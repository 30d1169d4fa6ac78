"""Inputs and outputs as URIs, against a real S3 server (moto, on 127.0.0.1, started here)."""

from __future__ import annotations

import json
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

import pyarrow.fs as pafs
import pytest
from click.testing import CliRunner

from bytepatch.cli.main import cli
from bytepatch.dataset import open_dataset

moto_server = pytest.importorskip("moto.server", reason="pip install 'moto[server]' (the test extra installs it)")

SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sample"
BUCKET = "corpus-bucket"


@pytest.fixture(scope="module")
def s3():
    """A local S3 endpoint with one bucket; pyarrow finds it through AWS_ENDPOINT_URL."""
    import boto3

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        fs = pafs.S3FileSystem(
            endpoint_override=env["AWS_ENDPOINT_URL"], access_key="testing", secret_key="testing", region="us-east-1"
        )
        for path in sorted(SAMPLE.iterdir()):
            with fs.open_output_stream(f"{BUCKET}/corpus/{path.name}") as f:
                f.write(path.read_bytes())
        yield fs
    server.stop()


@pytest.fixture
def credentials(s3):
    """(access key, secret key) of a user of the server, which refuses every other for the
    test: moto checks each request's signature once its `reset-auth` count is 0. So a read
    succeeds only if these credentials reach it (the environment's `testing` are refused)."""
    import boto3

    iam = boto3.client("iam", region_name="us-east-1")
    name = f"reader-{len(iam.list_users()['Users'])}"
    iam.create_user(UserName=name)
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName=name, PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    _reset_auth(b"0")
    try:
        yield key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        _reset_auth(b"inf")


def _reset_auth(count: bytes) -> None:
    import os

    endpoint = os.environ["AWS_ENDPOINT_URL"]
    request = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", count, {"Content-Type": "text/plain"})
    urllib.request.urlopen(request).close()


def in_uri(key: str, secret: str) -> str:
    """`KEY:SECRET@` as a URI carries them: an AWS secret may hold `/` and `+`, percent-encoded."""
    return f"{key}:{urllib.parse.quote(secret, safe='')}@"


def run(*args: str):
    return CliRunner().invoke(cli, ["segment", *args, "-q"])


def download(fs, prefix: str, target: Path) -> Path:
    target.mkdir()
    for info in fs.get_file_info(pafs.FileSelector(prefix, recursive=True)):
        with fs.open_input_file(info.path) as f:
            (target / Path(info.path).name).write_bytes(f.read())
    return target


def rows(path: Path) -> list[tuple]:
    return sorted((r.id, r.bytes, tuple(r.patch_lengths)) for r in open_dataset(path))


def test_s3_corpus_in_s3_dataset_out(s3, tmp_path: Path):
    args = ["--patcher", "space", "--max-patch-length", "12", "--shard-size-mb", "0.02"]
    result = run(f"s3://{BUCKET}/corpus/", "-o", f"s3://{BUCKET}/out", *args)
    assert result.exit_code == 0, result.output
    assert run(str(SAMPLE), "-o", str(tmp_path / "local"), *args).exit_code == 0
    got = download(s3, f"{BUCKET}/out", tmp_path / "from-s3")
    assert rows(got) == rows(tmp_path / "local")  # ids relative to the URI root, as to a local root
    manifest = json.loads((got / "manifest.json").read_text())
    assert len(manifest["shards"]) > 1 and not list(Path(tempfile_dir()).glob("bytepatch-stage-*"))
    # Reading commands say to copy it (they said "s3:/.../: no manifest.json", a false and mangled name).
    for command in ("verify", "stats"):
        result = CliRunner().invoke(cli, [command, f"s3://{BUCKET}/out"])
        assert result.exit_code == 1, result.output
        assert f"Error: s3://{BUCKET}/out: datasets are read from a local directory" in result.output
    # A second run needs --overwrite, then replaces the dataset.
    again = run(f"s3://{BUCKET}/corpus/", "-o", f"s3://{BUCKET}/out", *args)
    assert again.exit_code != 0 and "--overwrite" in again.output
    assert (
        run(f"s3://{BUCKET}/corpus/multilingual.txt", "-o", f"s3://{BUCKET}/out", *args, "--overwrite").exit_code == 0
    )
    assert open_dataset(download(s3, f"{BUCKET}/out", tmp_path / "again")).num_rows == 1


def test_a_shard_gone_from_the_staging_folder_says_to_rerun_with_overwrite(s3, monkeypatch):
    """The local staging folder cleaned while the run writes: the error said "rerun with
    --resume", which an object-storage output refuses."""
    import bytepatch.segment.pipeline as pipeline

    write_shards = pipeline._run

    def run_then_lose_one(documents, shard_bytes, job, *args, **kwargs):
        shards = write_shards(documents, shard_bytes, job, *args, **kwargs)
        (job.layout.out / shards[1].file).unlink()
        return shards

    monkeypatch.setattr(pipeline, "_run", run_then_lose_one)
    result = run(f"s3://{BUCKET}/corpus/", "-o", f"s3://{BUCKET}/lost", "--patcher", "space", "--shard-size-mb", "0.02")
    assert result.exit_code == 1 and "a shard of this run, no longer there" in result.output, result.output
    assert "rerun with --overwrite" in result.output and "--resume" not in result.output
    assert not s3.get_file_info(f"{BUCKET}/lost/manifest.json").is_file


def test_missing_objects_and_unknown_schemes_are_clear_errors(s3, tmp_path: Path):
    result = run(f"s3://{BUCKET}/nothing-here/", "-o", str(tmp_path / "o"), "--patcher", "space")
    assert result.exit_code == 1 and "nothing-here" in result.output and "Traceback" not in result.output
    result = run("nosuchscheme://bucket/corpus.jsonl", "-o", str(tmp_path / "o"), "--patcher", "space")
    assert result.exit_code == 1 and "'nosuchscheme'" in result.output and "Traceback" not in result.output


def test_objects_whose_names_a_uri_does_not_carry_as_they_are_are_read_by_their_own_names(s3, tmp_path: Path):
    """`c#d.txt` was read as the object `c` and `g%41.txt` as `gA.txt` (exit 0, wrong rows):
    listed object paths went into URIs unquoted, and pyarrow parses a URI."""
    from tests.bytepatch.io.test_fs import AWKWARD_NAMES

    for name, data in AWKWARD_NAMES.items():
        with s3.open_output_stream(f"{BUCKET}/awkward/{name}") as f:
            f.write(data)
    result = run(f"s3://{BUCKET}/awkward/", "-o", str(tmp_path / "out"), "--patcher", "space")
    assert result.exit_code == 0, result.output
    assert {r.id: bytes(r.bytes) for r in open_dataset(tmp_path / "out")} == AWKWARD_NAMES


def tempfile_dir() -> str:
    import tempfile

    return tempfile.gettempdir()


@pytest.mark.slow  # starts a local Ray instance
def test_ray_engine_reads_and_writes_s3(s3, tmp_path: Path, monkeypatch):
    """The cluster recipe of docs/cluster.md: S3 in, Ray actors upload each shard, manifest
    last, and leave no staging directory behind (each actor's stayed, one per run)."""
    ray = pytest.importorskip("ray", reason="pip install 'ray[data]' (the test extra installs it)")
    staging = tmp_path / "actors-tmp"
    staging.mkdir()
    monkeypatch.setenv("RAY_TMPDIR", tempfile.gettempdir())  # Ray's own sockets stay at a short path
    monkeypatch.setenv("TMPDIR", str(staging))  # the actors' temporary files go here
    with s3.open_output_stream(f"{BUCKET}/big/big.jsonl") as f:
        f.write((SAMPLE / "stdlib_docstrings.jsonl").read_bytes() * 3)
    args = ["--patcher", "space", "--shard-size-mb", "0.03"]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # workers inherit the S3 settings
    try:
        result = run(f"s3://{BUCKET}/big/", "-o", f"s3://{BUCKET}/ray-out", *args, "--engine", "ray")
    finally:
        ray.shutdown()
    assert result.exit_code == 0, result.output
    local = tmp_path / "big.jsonl"
    local.write_bytes((SAMPLE / "stdlib_docstrings.jsonl").read_bytes() * 3)
    assert run(str(local), "-o", str(tmp_path / "local"), *args).exit_code == 0
    got = download(s3, f"{BUCKET}/ray-out", tmp_path / "from-s3")
    assert rows(got) == rows(tmp_path / "local") and len(open_dataset(got).manifest["shards"]) > 3
    assert not list(staging.iterdir())


def test_a_query_string_on_a_prefix_reaches_every_object_it_lists(s3, tmp_path: Path, monkeypatch):
    """`s3://bucket/prefix/?endpoint_override=...`: the prefix was listed on that server, but
    each object's URI lost the query, so the objects were read from the default endpoint
    (here: nothing listens there), and their ids were `../corpus/x`."""
    import os

    endpoint = os.environ["AWS_ENDPOINT_URL"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the discard port: only the query finds the server
    query = f"?endpoint_override={endpoint.split('://', 1)[1]}&scheme=http"
    result = run(f"s3://{BUCKET}/corpus/{query}", "-o", str(tmp_path / "q"), "--patcher", "space")
    assert result.exit_code == 0, result.output
    assert run(str(SAMPLE), "-o", str(tmp_path / "local"), "--patcher", "space").exit_code == 0
    assert rows(tmp_path / "q") == rows(tmp_path / "local")  # ids relative to the prefix, not `../corpus/x`
    # One object's URI with a query: its id is its name, not the tail of the query.
    result = run(f"s3://{BUCKET}/corpus/multilingual.txt{query}", "-o", str(tmp_path / "one"), "--patcher", "space")
    assert result.exit_code == 0, result.output
    assert [r.id for r in open_dataset(tmp_path / "one")] == ["multilingual.txt"]


def test_credentials_in_a_prefix_uri_reach_every_object_it_lists(s3, credentials, tmp_path: Path):
    """`s3://KEY:SECRET@bucket/prefix/`: pyarrow listed the prefix with them, but the listed
    objects' URIs lost them (`s3://bucket/prefix/x`), so every object was read with the
    environment's credentials: here refused (exit 1), elsewhere another account's view."""
    key, secret = credentials
    uri = f"s3://{in_uri(key, secret)}{BUCKET}/corpus/"
    result = run(uri, "-o", str(tmp_path / "out"), "--patcher", "space")
    assert result.exit_code == 0, result.output
    assert run(str(SAMPLE), "-o", str(tmp_path / "local"), "--patcher", "space").exit_code == 0
    assert rows(tmp_path / "out") == rows(tmp_path / "local")  # ids relative to the prefix, as before


def shows(secret: str, text: str | bytes) -> bool:
    """Whether `text` holds the secret, as given or percent-encoded."""
    forms = (secret, urllib.parse.quote(secret, safe=""))
    return any((form.encode() if isinstance(text, bytes) else form) in text for form in forms)


def test_an_error_on_an_object_read_with_credentials_names_it_without_the_secret(s3, credentials, tmp_path: Path):
    """Each listed object keeps the prefix's `KEY:SECRET@` (above), and the error line naming a
    bad one showed the secret key on stderr (and in a CI log): its password is `***` there."""
    import os

    key, secret = credentials
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    fs = pafs.S3FileSystem(endpoint_override=endpoint, access_key=key, secret_key=secret, region="us-east-1")
    with fs.open_output_stream(f"{BUCKET}/bad/broken.jsonl") as f:
        f.write(b'{"text": "fine"}\n{"text": \n')
    result = run(f"s3://{in_uri(key, secret)}{BUCKET}/bad/", "-o", str(tmp_path / "out"), "--patcher", "space")
    assert result.exit_code == 1
    assert f"Error: s3://{key}:***@{BUCKET}/bad/broken.jsonl:2: " in result.output, result.output
    assert not shows(secret, result.output)


def test_a_warning_on_an_object_read_with_credentials_names_it_without_the_secret(s3, credentials, tmp_path: Path):
    """The warning about an Arrow stream without its end marker named the object with its secret."""
    import os

    import pyarrow as pa

    key, secret = credentials
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    fs = pafs.S3FileSystem(endpoint_override=endpoint, access_key=key, secret_key=secret, region="us-east-1")
    sink = pa.BufferOutputStream()
    table = pa.table({"text": ["one", "two", "three", "four"]})
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_batch(table.to_batches(max_chunksize=2)[0])
        cut = sink.tell()  # the stream as far as its first batch: no end-of-stream marker
    with fs.open_output_stream(f"{BUCKET}/cut/cut.arrow") as f:
        f.write(sink.getvalue()[:cut])
    result = run(f"s3://{in_uri(key, secret)}{BUCKET}/cut/", "-o", str(tmp_path / "out"), "--patcher", "space")
    assert result.exit_code == 0, result.output
    assert f"warning: s3://{key}:***@{BUCKET}/cut/cut.arrow: the Arrow IPC stream has no end-of" in result.output
    assert not shows(secret, result.output)


def test_nothing_a_run_writes_shows_the_secret_of_its_input_uri(s3, credentials, tmp_path: Path):
    """The run state beside the shards (`.bytepatch-run.json`, for --resume) stored every
    input's URI with its secret key; ids are relative to the prefix, so never held it."""
    key, secret = credentials
    uri = f"s3://{in_uri(key, secret)}{BUCKET}/corpus/"
    out = tmp_path / "out"
    result = run(uri, "-o", str(out), "--patcher", "space")
    assert result.exit_code == 0, result.output
    written = sorted(p for p in out.rglob("*") if p.is_file())
    assert written and [p.name for p in written if shows(secret, p.read_bytes())] == []
    assert f"s3://{key}:***@{BUCKET}/corpus/multilingual.txt" in (out / ".bytepatch-run.json").read_text()
    # --resume compares the run state as stored: the same inputs still match it.
    again = run(uri, "-o", str(out), "--patcher", "space", "--resume")
    assert again.exit_code == 0, again.output


def test_lines_hide_a_uris_secret_query_options_and_an_output_uris_password(s3, tmp_path: Path):
    """Secrets in a query (pyarrow refuses `session_token=` there, quoting the URI in its
    error) and in the output's URI were printed as given; the server's options stay."""
    import os

    endpoint = os.environ["AWS_ENDPOINT_URL"].split("://", 1)[1]
    query = f"?endpoint_override={endpoint}&scheme=http"
    result = run(f"s3://{BUCKET}/corpus/{query}&session_token=T0KEN", "-o", str(tmp_path / "o"), "--patcher", "space")
    assert result.exit_code == 1
    assert f"Error: s3://{BUCKET}/corpus/{query}&session_token=***: " in result.output, result.output
    assert "T0KEN" not in result.output
    # The output's error: a prefix holding objects bytepatch did not write.
    result = run(f"s3://{BUCKET}/corpus/", "-o", f"s3://KEY:S3KRIT@{BUCKET}/corpus/", "--patcher", "space")
    assert result.exit_code == 1
    assert f"Error: s3://KEY:***@{BUCKET}/corpus/: output holds objects" in result.output, result.output
    assert "S3KRIT" not in result.output
    # A finished run's summary line names its output so too.
    args = ["segment", f"s3://{BUCKET}/corpus/", "-o", f"s3://KEY:S3KRIT@{BUCKET}/summary/", "--patcher", "space"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"s3://KEY:***@{BUCKET}/summary/: 66 documents" in result.output and "S3KRIT" not in result.output


def test_a_query_string_on_an_output_prefix_keeps_the_dataset_under_it(s3, tmp_path: Path, monkeypatch):
    """`-o s3://bucket/out?endpoint_override=...`: each object's name was pasted after the
    query (`...&scheme=http/train-00000.arrow`), so the first upload failed on a scheme
    `http/train-00000.arrow`. Now the dataset lands under `out/`, on the query's server."""
    import os

    endpoint = os.environ["AWS_ENDPOINT_URL"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the discard port: only the query finds the server
    query = f"?endpoint_override={endpoint.split('://', 1)[1]}&scheme=http"
    args = ["--patcher", "space", "--shard-size-mb", "0.02"]
    result = run(str(SAMPLE), "-o", f"s3://{BUCKET}/query-out{query}", *args)
    assert result.exit_code == 0, result.output
    assert run(str(SAMPLE), "-o", str(tmp_path / "local"), *args).exit_code == 0
    got = download(s3, f"{BUCKET}/query-out", tmp_path / "from-s3")
    assert rows(got) == rows(tmp_path / "local") and len(open_dataset(got).manifest["shards"]) > 1


def test_a_saved_datasets_directory_in_s3_reads_as_it_does_locally(s3, tmp_path: Path):
    """`Dataset.save_to_disk("s3://...")` writes what it writes locally; read from S3, its
    JSON files were taken as JSON Lines ("dataset_info.json:1: malformed JSON", exit 1).
    Now a saved Dataset and a saved DatasetDict give the rows and ids of a local run."""
    datasets = pytest.importorskip("datasets", reason="pip install datasets (the test extra installs it)")
    saved = tmp_path / "saved"
    datasets.Dataset.from_dict({"text": [f"document {i}" for i in range(30)]}).save_to_disk(str(saved), num_shards=2)
    (saved / "README.txt").write_text("a note beside the data")  # skipped, and said, as locally
    splits = {"train": ["t1", "t2"], "test": ["s1"]}
    dd = datasets.DatasetDict({k: datasets.Dataset.from_dict({"text": v}) for k, v in splits.items()})
    dd.save_to_disk(str(tmp_path / "dd"))
    datasets.Dataset.from_dict(
        {"text": []}, features=datasets.Features({"text": datasets.Value("string")})
    ).save_to_disk(str(tmp_path / "empty"))
    for name in ("saved", "dd", "empty"):
        for path in sorted((tmp_path / name).rglob("*")):
            if path.is_file():
                with s3.open_output_stream(f"{BUCKET}/hf/{name}/{path.relative_to(tmp_path / name)}") as f:
                    f.write(path.read_bytes())
        on_s3 = CliRunner().invoke(
            cli, ["segment", f"s3://{BUCKET}/hf/{name}/", "-o", str(tmp_path / f"out-{name}"), "--patcher", "space"]
        )
        assert on_s3.exit_code == 0, on_s3.output
        local = run(str(tmp_path / name), "-o", str(tmp_path / f"local-{name}"), "--patcher", "space")
        assert local.exit_code == 0, local.output
        assert [(r.id, r.bytes) for r in open_dataset(tmp_path / f"out-{name}")] == [
            (r.id, r.bytes) for r in open_dataset(tmp_path / f"local-{name}")
        ]
        assert ("README.txt" in on_s3.output) == (name == "saved")
    assert [r.id for r in open_dataset(tmp_path / "out-dd")][0] == "train/data-00000-of-00001.arrow#0"


CUT_UPLOAD = """
import os, signal, sys
import bytepatch.dataset.remote as remote
class CutShutil:  # a stop signal lands in the middle of a shard's upload
    @staticmethod
    def copyfileobj(src, dst, length=0):
        data = src.read()
        dst.write(data[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000): pass  # Python runs its handler here
        dst.write(data[len(data) // 2 :])
remote.shutil = CutShutil
from bytepatch.cli import main as entry
sys.argv = ["bytepatch", *sys.argv[1:]]
entry.main()
"""


@pytest.mark.parametrize("scheme", ["s3", "file"])
def test_an_upload_cut_short_leaves_no_object_under_a_final_name(s3, tmp_path: Path, scheme: str):
    """pyarrow completes an upload when its stream is closed, as leaving a `with` on Ctrl-C
    does: half a shard appeared as out/train-00000.arrow (38,916 of 77,832 bytes), a file
    with a final name that is not complete (docs/dataset.md, "Atomic writes")."""
    import os
    import subprocess
    import sys

    script = tmp_path / "cut.py"
    script.write_text(CUT_UPLOAD)
    out = f"s3://{BUCKET}/upload-cut" if scheme == "s3" else f"file://{tmp_path / 'cut'}"
    args = ["segment", str(SAMPLE / "stdlib_docstrings.jsonl"), "-o", out, "--patcher", "space", "-q"]
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=dict(os.environ))
    assert proc.returncode == 130 and "rerun with --overwrite" in proc.stderr, proc.stderr
    if scheme == "s3":
        left = [i.path for i in s3.get_file_info(pafs.FileSelector(f"{BUCKET}/upload-cut", allow_not_found=True))]
        assert [p for p in left if p.rsplit("/", 1)[1]] == []  # (pyarrow may keep the prefix as an empty marker)
    else:
        assert sorted(os.listdir(tmp_path / "cut")) == []
