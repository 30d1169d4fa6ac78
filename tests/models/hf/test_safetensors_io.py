"""bytepatch's own safetensors reader/writer against the `safetensors` package (the format's reference)."""

from __future__ import annotations

import json
import struct

import pytest
import torch

from bytepatch.models.hf.safetensors_io import load_file, read_header, save_file

safetensors_torch = pytest.importorskip("safetensors.torch")


def sample() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "a.weight": torch.randn(7, 5, generator=g),
        "b.bf16": torch.randn(3, 4, generator=g).to(torch.bfloat16),
        "c.f16": torch.randn(6, generator=g).to(torch.float16),
        "d.f64": torch.randn(2, 2, generator=g, dtype=torch.float64),
        "e.i64": torch.tensor([-(2**62), 5, 2**62], dtype=torch.int64),
        "f.i32": torch.arange(-3, 3, dtype=torch.int32),
        "g.u8": torch.tensor([0, 255, 7], dtype=torch.uint8),
        "h.bool": torch.tensor([True, False, True]),
        "i.scalar": torch.tensor(3.5),
        "j.empty": torch.zeros(0, 4),
    }


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
        assert torch.equal(a[name], b[name]), name


def test_ours_read_by_the_package(tmp_path):
    tensors = sample()
    save_file(tensors, tmp_path / "x.safetensors")
    same(safetensors_torch.load_file(str(tmp_path / "x.safetensors")), tensors)
    assert not (tmp_path / "x.safetensors.tmp").exists()


def test_package_read_by_ours(tmp_path):
    tensors = sample()
    safetensors_torch.save_file(tensors, str(tmp_path / "y.safetensors"), metadata={"format": "pt"})
    same(load_file(tmp_path / "y.safetensors"), tensors)
    _, metadata, _ = read_header(tmp_path / "y.safetensors")
    assert metadata == {"format": "pt"}


def test_selected_names_and_non_contiguous_input(tmp_path):
    t = torch.arange(12.0).reshape(3, 4).t()  # a transposed view: written contiguous
    save_file({"t": t, "u": torch.ones(2)}, tmp_path / "z.safetensors")
    got = load_file(tmp_path / "z.safetensors", names={"t"})
    assert list(got) == ["t"] and torch.equal(got["t"], t)


def _raw(tmp_path, header: dict, buffer: bytes, pad: bytes = b"") -> str:
    raw = json.dumps(header).encode() + pad
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + buffer)
    return str(path)


@pytest.mark.parametrize(
    "header, buffer, message",
    [
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4, "outside"),
        ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8, "expected 12"),
        ({"a": {"dtype": "X9", "shape": [1], "data_offsets": [0, 1]}}, b"\0", "unsupported dtype"),
        (
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},
            },
            b"\0" * 8,
            "overlap",
        ),
        ({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, "bad shape"),
        ({"a": {"dtype": "F32", "shape": [1]}}, b"\0" * 4, "expected keys"),
    ],
)
def test_malformed_files_are_refused_naming_the_file(tmp_path, header, buffer, message):
    path = _raw(tmp_path, header, buffer)
    with pytest.raises(ValueError, match=message) as info:
        load_file(path)
    assert "bad.safetensors" in str(info.value)


def test_truncated_and_garbage_headers(tmp_path):
    short = tmp_path / "short.safetensors"
    short.write_bytes(b"\x01\x02")
    with pytest.raises(ValueError, match="shorter than"):
        load_file(short)
    huge = tmp_path / "huge.safetensors"
    huge.write_bytes(struct.pack("<Q", 10**6) + b"{}")
    with pytest.raises(ValueError, match="does not fit"):
        load_file(huge)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(struct.pack("<Q", 3) + b"{x}")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_file(garbage)
