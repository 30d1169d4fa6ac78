"""Directory walks never skip input silently (issue 13.7)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bytepatch.io import InputError, expand_inputs, expand_sources


def tree(root: Path) -> Path:
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.txt").write_text("x")
    (root / "top.txt").write_text("t")
    return root


def test_a_symlinked_directory_is_followed(tmp_path):
    corpus = tree(tmp_path / "corpus")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "y.txt").write_text("y")
    os.symlink(tmp_path / "elsewhere", corpus / "linked")
    files = expand_inputs([str(corpus)])
    assert [Path(f).relative_to(corpus).as_posix() for f in files] == ["top.txt", "a/x.txt", "linked/y.txt"]


def test_a_symlink_loop_is_an_error_naming_it(tmp_path):
    corpus = tree(tmp_path / "corpus")
    os.symlink(corpus, corpus / "a" / "back")
    with pytest.raises(InputError, match=r"a/back: symbolic link loop"):
        expand_inputs([str(corpus)])


def test_a_fifo_in_a_directory_is_refused_not_read(tmp_path):
    corpus = tree(tmp_path / "corpus")
    os.mkfifo(corpus / "a" / "pipe")
    with pytest.raises(InputError, match=r"a/pipe: not a regular file \(a FIFO\)"):
        expand_inputs([str(corpus)])
    with pytest.raises(InputError, match=r"pipe: not a regular file \(a FIFO\)"):
        expand_inputs([str(corpus / "a" / "*")])


def test_a_broken_link_is_an_error_naming_it(tmp_path):
    corpus = tree(tmp_path / "corpus")
    os.symlink(tmp_path / "gone", corpus / "dangling.txt")
    with pytest.raises(InputError, match=r"dangling.txt: broken symbolic link"):
        expand_inputs([str(corpus)])


def test_a_broken_or_looping_link_named_as_an_input_says_so(tmp_path):
    """Named as an input (not met in a walk), a dangling link or one that leads to itself
    was "no such file or directory", though `ls` shows it there."""
    os.symlink(tmp_path / "gone", tmp_path / "dangling.txt")
    os.symlink("self.txt", tmp_path / "self.txt")
    os.symlink("b.txt", tmp_path / "a.txt")
    os.symlink("a.txt", tmp_path / "b.txt")
    with pytest.raises(InputError, match=r"dangling.txt: broken symbolic link$"):
        expand_inputs([str(tmp_path / "dangling.txt")])
    for name in ("self.txt", "a.txt"):
        with pytest.raises(InputError, match=rf"{name}: symbolic link loop \(it leads back to itself\)$"):
            expand_inputs([str(tmp_path / name)])
    with pytest.raises(InputError, match=r"a.txt: symbolic link loop"):  # in a walk too (a.txt comes first)
        expand_inputs([str(tmp_path)])
    with pytest.raises(InputError, match=r"missing.txt: no such file or directory$"):
        expand_inputs([str(tmp_path / "missing.txt")])


def test_an_unreadable_subdirectory_stops_the_walk(tmp_path, monkeypatch):
    corpus = tree(tmp_path / "corpus")
    locked = corpus / "a"
    locked.chmod(0)
    try:
        if os.geteuid() == 0:  # root lists any directory: raise what scandir raises for others
            real = os.scandir

            def scandir(path):
                if Path(path) == locked:
                    raise PermissionError(13, "Permission denied", str(path))
                return real(path)

            monkeypatch.setattr(os, "scandir", scandir)
        with pytest.raises(InputError, match=r"corpus/a: cannot read directory: Permission denied"):
            expand_inputs([str(corpus)])
    finally:
        locked.chmod(0o755)


def test_a_file_gone_between_its_check_and_its_stat_is_an_error_naming_it(tmp_path, monkeypatch):
    """A file argument deleted after `exists` said yes (another process racing the listing)."""
    gone = tmp_path / "gone.txt"
    monkeypatch.setattr(os.path, "exists", lambda path: True)
    with pytest.raises(InputError, match=r"gone.txt: cannot read: No such file or directory"):
        expand_inputs([str(gone)])


@pytest.mark.skipif(os.name != "posix", reason="POSIX file names are bytes")
def test_a_file_name_that_is_not_utf8_is_refused_naming_it(tmp_path):
    """Its documents' ids could not be stored (ids are UTF-8): refused when listed, with a
    printable name, not as an encoding error once a shard is written."""
    try:
        (tmp_path / os.fsdecode(b"bad\xff.txt")).write_bytes(b"x")
    except OSError:  # a filesystem that refuses such names
        pytest.skip("this filesystem refuses non-UTF-8 names")
    with pytest.raises(InputError, match=r"bad\\xff\.txt: file name is not valid UTF-8"):
        expand_inputs([str(tmp_path)])


def test_links_to_a_file_listed_before_are_read_once_and_said(tmp_path, capsys):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_bytes(b"A")
    (tmp_path / "sub" / "z.txt").write_bytes(b"Z")
    os.link(tmp_path / "a.txt", tmp_path / "hard.txt")
    os.symlink(tmp_path / "sub" / "z.txt", tmp_path / "link.txt")
    assert [Path(p).name for p in expand_inputs([str(tmp_path)])] == ["a.txt", "link.txt"]
    err = capsys.readouterr().err
    assert "note: 2 input path(s) name a file listed before" in err and "hard.txt" in err
    expand_inputs([str(tmp_path / "a.txt"), str(tmp_path / "a.txt")])  # one path twice: nothing to say
    assert capsys.readouterr().err == ""


def test_entries_a_saved_datasets_directory_does_not_list_are_skipped_and_said(tmp_path, capsys):
    import json

    (tmp_path / "data-00000-of-00001.arrow").write_bytes(b"")
    (tmp_path / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
    (tmp_path / "dataset_info.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "sub").mkdir()
    assert [Path(p).name for p in expand_inputs([str(tmp_path)])] == ["data-00000-of-00001.arrow"]
    err = capsys.readouterr().err
    assert "save_to_disk directory" in err and "skipping 2 other entries (first: notes.txt)" in err
    # A second listing of the same inputs (segment's calibration sample) says nothing: it came twice.
    assert [Path(p).name for p in expand_inputs([str(tmp_path)], note=None)] == ["data-00000-of-00001.arrow"]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("state", [{}, [], {"_data_files": {}}, {"_data_files": [{"name": "x.arrow"}]}])
def test_a_damaged_save_to_disk_state_file_says_what_it_lacks(tmp_path, state):
    """It said a KeyError's bare "'_data_files'" or "list indices must be integers"."""
    import json

    (tmp_path / "state.json").write_text(json.dumps(state))
    (tmp_path / "dataset_info.json").write_text("{}")
    with pytest.raises(InputError, match=r"state.json: not a readable .*'_data_files' lists \{'filename'"):
        expand_inputs([str(tmp_path)])


def test_segment_with_target_patch_size_says_the_links_note_once(tmp_path):
    """The calibration sample lists the inputs too; the note came twice."""
    from click.testing import CliRunner

    from bytepatch.cli.main import cli

    (tmp_path / "in").mkdir()
    sample = Path(__file__).resolve().parents[3] / "examples" / "sample" / "multilingual.txt"
    (tmp_path / "in" / "a.txt").write_bytes(sample.read_bytes())
    os.symlink(tmp_path / "in" / "a.txt", tmp_path / "in" / "link.txt")
    args = ["segment", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--target-patch-size", "4.5", "-q"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.output.count("name a file listed before") == 1, result.output


@pytest.mark.parametrize("index", ["{}", "[]", '{"splits": "train"}', '{"splits": [1]}'])
def test_a_dataset_dict_index_without_a_list_of_splits_says_what_it_lacks(tmp_path: Path, index: str):
    """dataset_dict.json without its "splits" said `index: 'splits'` (a KeyError's text) or
    `list indices must be integers or slices, not str`: the file named, the reason not."""
    (tmp_path / "dd" / "train").mkdir(parents=True)
    (tmp_path / "dd" / "train" / "a.txt").write_text("text\n")
    (tmp_path / "dd" / "dataset_dict.json").write_text(index)
    with pytest.raises(InputError) as caught:
        expand_sources([str(tmp_path / "dd")])
    message = str(caught.value)
    assert str(tmp_path / "dd" / "dataset_dict.json") in message
    assert "a JSON object whose 'splits' is a list of split names" in message, message


def test_an_empty_directory_after_a_saved_dataset_of_no_rows_is_still_refused(tmp_path: Path):
    """A saved dataset of no rows is an input of no documents, but only it: the record of saved
    datasets read was shared by every input, so an empty directory or a glob matching nothing
    given after one was taken silently as no documents."""
    import json

    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "state.json").write_text(json.dumps({"_data_files": []}))
    (tmp_path / "ds" / "dataset_info.json").write_text("{}")
    (tmp_path / "empty").mkdir()
    assert expand_sources([str(tmp_path / "ds")]) == []
    with pytest.raises(InputError, match="directory contains no files"):
        expand_sources([str(tmp_path / "ds"), str(tmp_path / "empty")])
    with pytest.raises(InputError, match="pattern matches no files"):
        expand_sources([str(tmp_path / "ds"), str(tmp_path / "nothing*")])
    assert expand_sources([str(tmp_path / "d*")]) == []  # a glob matching the saved dataset alone: no documents
