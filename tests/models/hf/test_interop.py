"""bytepatch <-> `transformers` BLT: the same numbers on both sides, in both directions.

Every test builds tiny random models with the real port (norm gains randomised,
sequences longer than the local window) and compares logits in float32.

The port's decoder reads "the last patch that ended at or before t", where a patch
counts as ended only when the *next* patch is listed: `patch_lengths` with a
trailing zero-length patch mean "the next byte starts a patch" (its own patcher
emits one when the entropy after the last byte is above the threshold); without
one the last patch is still open. bytepatch says the same by extending each row
with one placeholder position (`port_view`), exactly what generation does.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from bytepatch.ids import BOS_ID, OFFSET
from bytepatch.models.blt.model import BLT
from bytepatch.models.blt.config import BLTConfig, GlobalConfig, LocalDecoderConfig, LocalEncoderConfig
from bytepatch.models.hf import EXPORT_REFUSALS, UnsupportedSetting, load_blt, load_patcher, save_blt
from bytepatch.patchers import EntropyPatcher, EntropyPatcherConfig
from tests.models.hf.tiny import WINDOW, random_hf_model, randomise_norms, save_hf

pytest.importorskip("transformers")
TOL = 1e-4  # the bound for float32
T = 41  # BOS + 40 bytes: longer than the window (16)


def ids_batch(seed: int = 0, rows: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(OFFSET, 260, (rows, T), generator=g)
    ids[:, 0] = BOS_ID
    return ids


# Row 0: 6 patches, the last one open (no trailing zero). Row 1: 5 patches, the last one
# closed (one trailing zero). Different patch counts, and both port conventions.
LENGTHS = torch.tensor([[1, 5, 9, 3, 12, 11], [1, 20, 6, 7, 7, 0]])


def splitting_threshold(h: np.ndarray) -> float:
    """A threshold between two entropies near the median, at the widest gap (no entropy sits on it)."""
    s = np.sort(np.asarray(h, np.float64))
    lo, hi = len(s) // 4, 3 * len(s) // 4
    k = lo + int(np.argmax(s[lo + 1 : hi + 1] - s[lo:hi]))
    return float((s[k] + s[k + 1]) / 2)


def port_view(ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """bytepatch inputs with one placeholder position whose patch decision says what the port's lengths say."""
    B = ids.shape[0]
    ext_ids = torch.cat([ids, torch.full((B, 1), OFFSET)], 1)
    ext = torch.cat([lengths, torch.zeros(B, 1, dtype=lengths.dtype)], 1)
    for b in range(B):
        n = int((lengths[b] > 0).sum())
        if n < lengths.shape[1]:  # a trailing zero: the last patch is closed, the next position starts one
            ext[b, n] = 1
        else:  # open: the next position continues the last patch
            ext[b, n - 1] += 1
    return ext_ids, ext


def ours(model: BLT, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    ext_ids, ext = port_view(ids, lengths)
    with torch.no_grad():
        return model(ext_ids, ext)[0][:, : ids.shape[1]]


def theirs(model, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    with torch.no_grad():
        kwargs = {} if lengths is None else {"patch_lengths": lengths}
        return model(input_ids=ids, use_cache=False, **kwargs).logits.float()  # its KV cache fails in 5.24


def test_import_logits_match_the_port(tmp_path):
    hf = save_hf(tmp_path / "blt", seed=1)
    ckpt = load_blt(tmp_path / "blt")
    c = ckpt.model.config
    assert (c.cross_attn_residual, c.decoder_alignment) == ("reference", "reference")
    assert (c.encoder.ffn_hidden, c.decoder.ffn_hidden, c.latent.ffn_hidden) == (80, 96, 112)
    assert c.encoder.window == c.decoder.window == WINDOW
    ids = ids_batch(2)
    diff = (ours(ckpt.model, ids, LENGTHS) - theirs(hf, ids, LENGTHS)).abs().max().item()
    print(f"\nimport: max |logit difference| = {diff:.3g}")
    assert diff < TOL


def test_import_reads_sharded_checkpoints(tmp_path):
    hf = save_hf(tmp_path / "blt", seed=3, max_shard_size="40KB")
    assert (tmp_path / "blt" / "model.safetensors.index.json").exists()
    ckpt = load_blt(tmp_path / "blt")
    ids = ids_batch(4)
    assert (ours(ckpt.model, ids, LENGTHS) - theirs(hf, ids, LENGTHS)).abs().max() < TOL


def test_patcher_entropies_and_boundaries_match_the_port(tmp_path):
    hf = save_hf(tmp_path / "blt", seed=5)
    lm = load_patcher(tmp_path / "blt")
    assert lm.default_threshold == pytest.approx(1.335442066192627)
    doc = bytes(np.random.default_rng(0).integers(0, 256, 60, dtype=np.uint8))  # > window
    ids = torch.tensor([[BOS_ID, *(b + OFFSET for b in doc)]])
    with torch.no_grad():
        port_h = hf.model.patcher(ids)[0][0].numpy()  # position t predicts token t + 1 = byte t
    h = lm.entropies([doc])[0]
    print(f"\npatcher: max |entropy difference| = {np.abs(h - port_h[:-1]).max():.3g}")
    np.testing.assert_allclose(h, port_h[:-1], atol=1e-5)
    # A threshold that splits the document, away from every entropy (the port is exact there).
    threshold = splitting_threshold(port_h)
    assert np.abs(port_h - threshold).min() > 1e-4
    with torch.no_grad():
        port_lengths = hf.model.patcher(ids, patch_size=4, threshold=threshold)[1][0].tolist()
    mine = EntropyPatcher(EntropyPatcherConfig(threshold=threshold), model=lm).patch_lengths(doc).tolist()
    closed = [0] if port_h[-1] > threshold else []  # the port decides for the position after the text too
    assert port_lengths == [1, *mine, *closed]


def test_port_end_to_end_patching_equals_bytepatch_online_patching(tmp_path):
    """The port patching in its forward == bytepatch's patcher deciding one position ahead (generation's rule)."""
    hf = save_hf(tmp_path / "blt", seed=7)
    ckpt = load_blt(tmp_path / "blt")
    doc = bytes(np.random.default_rng(1).integers(0, 256, 40, dtype=np.uint8))
    ids = torch.tensor([[BOS_ID, *(b + OFFSET for b in doc)]])
    h = ckpt.entropy_model.entropies([doc + b"\0"])[0]
    threshold = splitting_threshold(h)
    hf.config.patching_threshold = threshold
    patcher = EntropyPatcher(EntropyPatcherConfig(threshold=threshold), model=ckpt.entropy_model)
    lengths = torch.tensor([[1, *patcher.patch_lengths(doc + b"\0")]])  # the placeholder's decision included
    ext_ids = torch.cat([ids, torch.tensor([[OFFSET]])], 1)
    with torch.no_grad():
        mine = ckpt.model(ext_ids, lengths)[0][:, :-1]
    assert (mine - theirs(hf, ids)).abs().max() < TOL


def reference_blt(seed: int, **changes) -> BLT:
    settings = dict(
        encoder=LocalEncoderConfig(
            n_layers=1, dim=32, n_heads=2, window=WINDOW, hash_table_size=101, cross_attn_heads=2, intermediate_size=72
        ),
        latent=GlobalConfig(n_layers=2, dim=64, n_heads=4),
        decoder=LocalDecoderConfig(n_layers=2, dim=32, n_heads=2, window=WINDOW, cross_attn_heads=2),
        cross_attn_k=2,
        decoder_alignment="reference",
        cross_attn_residual="reference",
    )
    config = BLTConfig(**{**settings, **changes})
    torch.manual_seed(seed)
    model = BLT(config).eval()
    randomise_norms(model, seed + 1)
    return model


def test_export_logits_match_the_port(tmp_path):
    from transformers import BltForCausalLM

    model = reference_blt(11)
    save_blt(model, tmp_path / "out")
    hf = BltForCausalLM.from_pretrained(str(tmp_path / "out")).float().eval()
    ids = ids_batch(12)
    diff = (ours(model, ids, LENGTHS) - theirs(hf, ids, LENGTHS)).abs().max().item()
    print(f"\nexport: max |logit difference| = {diff:.3g}")
    assert diff < TOL


def test_export_with_entropy_model_round_trips_bit_exact(tmp_path):
    from transformers import BltForCausalLM

    save_hf(tmp_path / "blt", seed=13)
    first = load_blt(tmp_path / "blt")
    save_blt(first.model, tmp_path / "again", entropy_model=first.entropy_model, patcher=first.patcher)
    assert BltForCausalLM.from_pretrained(str(tmp_path / "again")) is not None  # the port reads it (with patcher)
    second = load_blt(tmp_path / "again")
    assert second.model.config == first.model.config
    assert second.patcher == first.patcher
    for a, b in ((first.model, second.model), (first.entropy_model.model, second.entropy_model.model)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert first.entropy_model.fingerprint == second.entropy_model.fingerprint


def test_bytepatch_to_hf_to_bytepatch_is_bit_exact(tmp_path):
    model = reference_blt(17)
    save_blt(model, tmp_path / "out")
    back = load_blt(tmp_path / "out").model
    assert back.config == model.config
    sa, sb = model.state_dict(), back.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    ids = ids_batch(18)
    assert torch.equal(ours(model, ids, LENGTHS), ours(back, ids, LENGTHS))


@pytest.mark.parametrize(
    "changes, names",
    [
        ({"decoder_alignment": "strict"}, "decoder_alignment='strict'"),
        ({"cross_attn_residual": "single"}, "cross_attn_residual='single'"),
        (
            {"decoder": LocalDecoderConfig(n_layers=2, dim=32, n_heads=2, window=WINDOW, cross_attn_heads=4)},
            "decoder.cross_attn_heads=4",
        ),
        (
            {"decoder": LocalDecoderConfig(n_layers=2, dim=64, n_heads=2, window=WINDOW, cross_attn_heads=2)},
            "encoder.dim=32 != decoder.dim=64",
        ),
        (
            {"decoder": LocalDecoderConfig(n_layers=2, dim=32, n_heads=2, window=8, cross_attn_heads=2)},
            "encoder.window=16 != decoder.window=8",
        ),
    ],
)
def test_export_refuses_settings_without_a_port_equivalent(tmp_path, changes, names):
    with pytest.raises(UnsupportedSetting, match=names.replace("(", r"\(")):
        save_blt(reference_blt(0, **changes), tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_export_refusal_names_every_setting_and_the_overrides_that_fix_it(tmp_path):
    """A run with the trainer's defaults (strict alignment, single residual) was refused for
    decoder_alignment alone: retrained with decoder_alignment=reference, it was then refused for
    cross_attn_residual. Every refused setting is named at once, with the overrides to train with."""
    changes = {"decoder_alignment": "strict", "cross_attn_residual": "single"}
    with pytest.raises(UnsupportedSetting) as info:
        save_blt(reference_blt(0, **changes), tmp_path / "out")
    message = str(info.value)
    assert message.startswith("cannot export to transformers: decoder_alignment='strict'")
    assert "cross_attn_residual='single'" in message
    assert "train with decoder_alignment=reference cross_attn_residual=reference" in message
    decoder = LocalDecoderConfig(n_layers=2, dim=32, n_heads=2, window=8, cross_attn_heads=4)
    with pytest.raises(UnsupportedSetting) as info:  # settings an override cannot fix: no "train with"
        save_blt(reference_blt(0, decoder=decoder), tmp_path / "out")
    assert "decoder.cross_attn_heads=4" in str(info.value) and "decoder.window=8" in str(info.value)
    assert "train with" not in str(info.value)


def test_every_documented_refusal_is_listed():
    assert "decoder_alignment='strict'" in EXPORT_REFUSALS and len(EXPORT_REFUSALS) >= 8


@pytest.mark.parametrize(
    "config, names",
    [
        (
            {
                "encoder_config": dict(
                    hidden_size=32,
                    num_attention_heads=2,
                    num_key_value_heads=1,
                    num_hidden_layers=1,
                    cross_attn_k=2,
                    hidden_size_global=48,
                )
            },
            "num_key_value_heads=1",
        ),
        (
            {
                "encoder_config": dict(
                    hidden_size=32,
                    num_attention_heads=2,
                    num_hidden_layers=2,
                    cross_attn_k=2,
                    cross_attn_all_layers=True,
                    hidden_size_global=48,
                )
            },
            "cross_attn_all_layers=true",
        ),
        (
            {
                "encoder_config": dict(
                    hidden_size=32,
                    num_attention_heads=2,
                    num_hidden_layers=1,
                    cross_attn_k=2,
                    hidden_size_global=48,
                    hidden_act="gelu",
                )
            },
            "hidden_act='gelu'",
        ),
    ],
)
def test_import_refuses_port_settings_bytepatch_cannot_compute(tmp_path, config, names):
    random_hf_model(0, **config).save_pretrained(str(tmp_path / "blt"))
    with pytest.raises(UnsupportedSetting, match=names):
        load_blt(tmp_path / "blt")


def test_no_window_and_no_patcher(tmp_path):
    hf = save_hf(tmp_path / "blt", seed=19, window=None, patcher=False)
    ckpt = load_blt(tmp_path / "blt")
    assert ckpt.entropy_model is None and ckpt.model.config.encoder.window is None
    with pytest.raises(ValueError, match="no patcher weights"):
        load_patcher(tmp_path / "blt")
    ids = ids_batch(20)
    assert (ours(ckpt.model, ids, LENGTHS) - theirs(hf, ids, LENGTHS)).abs().max() < TOL


def test_patcher_saved_alone(tmp_path):
    hf = random_hf_model(21)
    hf.model.patcher.save_pretrained(str(tmp_path / "patcher"))
    lm = load_patcher(tmp_path / "patcher")
    doc = b"a patcher saved on its own, longer than the window"
    ids = torch.tensor([[BOS_ID, *(b + OFFSET for b in doc)]])
    with torch.no_grad():
        port_h = hf.model.patcher(ids)[0][0, :-1].numpy()
    np.testing.assert_allclose(lm.entropies([doc])[0], port_h, atol=1e-5)
    assert lm.default_threshold == pytest.approx(1.335442066192627)  # the port saved no threshold: the paper's


def test_a_patcher_keeps_its_calibrated_threshold_through_the_port(tmp_path):
    """save_patcher dropped the entropy model's threshold: back from its BltPatcher (even re-saved
    by the port) it patched with the paper's 1.335 nats instead of the one it was calibrated to."""
    from transformers.models.blt.modeling_blt import BltPatcher

    from bytepatch.models.entropy_lm import TransformerEntropyModel
    from bytepatch.models.hf import save_patcher
    from bytepatch.models.nn.transformer import ByteTransformer, ByteTransformerConfig

    torch.manual_seed(25)
    net = ByteTransformer(ByteTransformerConfig(n_layers=1, dim=32, n_heads=2, window=WINDOW)).eval()
    lm = TransformerEntropyModel(net, 4.75, {})
    save_patcher(lm, tmp_path / "patcher")
    BltPatcher.from_pretrained(str(tmp_path / "patcher")).save_pretrained(str(tmp_path / "resaved"))
    for where in ("patcher", "resaved"):
        back = load_patcher(tmp_path / where)
        assert back.default_threshold == 4.75 and back.fingerprint == lm.fingerprint
    config = tmp_path / "patcher" / "config.json"
    config.write_text(config.read_text().replace('"patching_threshold": 4.75', '"patching_threshold": "high"'))
    with pytest.raises(ValueError, match=f"{config}: patching_threshold must be a finite number"):
        load_patcher(tmp_path / "patcher")


def test_a_patcher_without_a_calibrated_threshold_exports(tmp_path):
    """An entropy model whose calibration failed (`train-entropy` then writes default_threshold
    null) ended `convert` to a BltPatcher with a TypeError traceback (float(None))."""
    from transformers.models.blt.modeling_blt import BltPatcher

    from bytepatch.models.entropy_lm import TransformerEntropyModel
    from bytepatch.models.hf import save_patcher
    from bytepatch.models.nn.transformer import ByteTransformer, ByteTransformerConfig

    torch.manual_seed(26)
    net = ByteTransformer(ByteTransformerConfig(n_layers=1, dim=32, n_heads=2, window=WINDOW)).eval()
    lm = TransformerEntropyModel(net, None, {})
    save_patcher(lm, tmp_path / "patcher")
    BltPatcher.from_pretrained(str(tmp_path / "patcher"))  # still the port's directory
    back = load_patcher(tmp_path / "patcher")
    assert back.default_threshold == pytest.approx(1.335442066192627) and back.fingerprint == lm.fingerprint


def test_a_patcherless_export_records_how_its_data_was_patched(tmp_path):
    from bytepatch.models.hf.config_map import PATCHING_KEY, patching_record

    model = reference_blt(27)
    ngram = {"name": "default", "kind": "ngram", "fingerprint": "f" * 8, "precision": "fp32"}
    stride = {"patcher": "stride", "stride": 3, "max_patch_length": None}
    save_blt(model, tmp_path / "a", patching=patching_record(stride, ngram))
    ckpt = load_blt(tmp_path / "a")
    assert (ckpt.patcher, ckpt.entropy_ref) == (stride, ngram)
    config = tmp_path / "a" / "config.json"
    config.write_text(config.read_text().replace('"stride": 3', '"stride": "three"'))
    with pytest.raises(ValueError, match=f"{config}: {PATCHING_KEY}: .*stride"):
        load_blt(tmp_path / "a")


def test_an_export_records_the_runs_row_length(tmp_path):
    from bytepatch.models.hf.config_map import SEQ_LEN_KEY

    save_blt(reference_blt(29), tmp_path / "a", seq_len=96)
    assert load_blt(tmp_path / "a").seq_len == 96
    config = tmp_path / "a" / "config.json"
    config.write_text(config.read_text().replace(f'"{SEQ_LEN_KEY}": 96', f'"{SEQ_LEN_KEY}": 1.5'))
    with pytest.raises(ValueError, match=f"{config}: {SEQ_LEN_KEY} must be an integer"):
        load_blt(tmp_path / "a")


def test_loading_needs_neither_transformers_nor_safetensors(tmp_path):
    import subprocess
    import sys

    save_hf(tmp_path / "blt", seed=23)
    code = (
        "import sys; sys.modules['transformers'] = None; sys.modules['safetensors'] = None\n"
        "from bytepatch.models.hf import load_blt, save_blt\n"
        f"ckpt = load_blt({str(tmp_path / 'blt')!r})\n"
        f"save_blt(ckpt.model, {str(tmp_path / 'out')!r}, ckpt.entropy_model, ckpt.patcher)\n"
        "print(ckpt.model.num_params())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[-1]) > 0


def test_a_port_directory_without_a_patcher_reads_one_byte_per_patch(tmp_path):
    """Without `patch_lengths` the port's BLT with no patcher makes every position a patch of its own;
    bytepatch read such a directory as the port's entropy patching with no entropy model, so eval and
    generate could not patch text ("EntropyPatcher needs entropies, or an entropy model")."""
    from bytepatch.models.data import frame
    from bytepatch.models.data.eos import end_rule
    from bytepatch.patchers import PatcherSpec

    hf = save_hf(tmp_path / "blt", seed=33, patcher=False)
    ckpt = load_blt(tmp_path / "blt")
    assert ckpt.entropy_model is None and ckpt.entropy_ref is None
    assert ckpt.patcher == {"patcher": "stride", "stride": 1, "max_patch_length": None}
    # bytepatch's framing of a document (BOS, its bytes, EOS) with that patcher == the port's own forward
    doc = bytes(np.random.default_rng(2).integers(0, 256, 40, dtype=np.uint8))  # > window
    patcher = PatcherSpec.from_dict(ckpt.patcher).build()
    lengths = patcher.patch_lengths(doc)
    framed = frame(
        doc, lengths, name="doc", eos_starts_patch=end_rule(ckpt.patcher)(np.frombuffer(doc, np.uint8), lengths)
    )
    ids = torch.tensor(framed.ids, dtype=torch.long)[None]
    with torch.no_grad():
        mine = ckpt.model(ids, torch.tensor(framed.lengths)[None])[0]
    diff = (mine - theirs(hf, ids)).abs().max().item()
    print(f"\nno patcher: max |logit difference| = {diff:.3g}")
    assert diff < TOL


def test_a_patcher_with_patch_size_null_is_refused(tmp_path):
    """With patch_size null the port ignores its patcher's entropies and makes every position a patch
    (the last one open); bytepatch read such a directory as entropy patching at its threshold."""
    hf = save_hf(tmp_path / "blt", seed=37, patch_size=None)
    ids = ids_batch(38, rows=1)
    ones = torch.ones_like(ids)
    assert torch.equal(theirs(hf, ids), theirs(hf, ids, ones))  # what the port does: one byte per patch
    with pytest.raises(UnsupportedSetting, match=f"{tmp_path / 'blt' / 'config.json'}: patch_size=null"):
        load_blt(tmp_path / "blt")


def test_patch_in_forward_must_agree_with_the_patcher_weights(tmp_path):
    """patch_in_forward=false beside patcher tensors was read as entropy patching with that patcher
    (the port ignores them and patches one byte per position); patch_in_forward=true without them
    loaded, and eval then said 'EntropyPatcher needs entropies' (the port runs an untrained patcher)."""
    import json

    from bytepatch.models.hf.safetensors_io import load_file, save_file

    save_hf(tmp_path / "off", seed=39)
    config = tmp_path / "off" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "patch_in_forward": False}))
    with pytest.raises(UnsupportedSetting, match=f"{config}: patch_in_forward=false, but the weights hold a patcher"):
        load_blt(tmp_path / "off")

    save_hf(tmp_path / "on", seed=39)
    weights = tmp_path / "on" / "model.safetensors"
    save_file({k: v for k, v in load_file(weights).items() if not k.startswith("model.patcher.")}, weights)
    with pytest.raises(ValueError, match="patch_in_forward is true, but the weights hold no patcher"):
        load_blt(tmp_path / "on")
    with pytest.raises(ValueError, match=r"no patcher weights \(though patch_in_forward is on\)"):  # not "is off"
        load_patcher(tmp_path / "on")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"patching_threshold": None}, "patching_threshold is null"),
        ({"patching_threshold": "high"}, "patching_threshold must be a finite number, got 'high'"),
        ({"max_patch_length": 2.5}, "max_patch_length must be an integer >= 1, got 2.5"),
        ({"max_patch_length": 0}, "max_patch_length must be an integer >= 1, got 0"),
        ({"encoder_config": [32]}, "encoder_config must be an object, got list"),
        ({"patcher_config": "small"}, "patcher_config must be an object, got str"),
        ({"encoder_hash_byte_group_size": 3}, "encoder_hash_byte_group_size must be a list of positive integers"),
        ({"cross_attn_k": "2"}, "cross_attn_k must be an integer >= 1, got '2'"),
        ({"local_attention_window_len": -1}, "local_attention_window_len must be an integer >= 1, got -1"),
    ],
)
def test_a_config_value_of_the_wrong_type_is_refused_naming_file_and_key(tmp_path, change, message):
    """A null, a string or a list where the port has a number or an object ended in a TypeError or
    AttributeError traceback (patching_threshold: null, encoder_config: [...]), or in a ValueError
    naming neither the file nor the key ("could not convert string to float: 'high'")."""
    import json
    import re

    save_hf(tmp_path / "blt", seed=41)
    config = tmp_path / "blt" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), **change}))
    with pytest.raises(ValueError, match=re.escape(f"{config}") + ".*" + re.escape(message)):
        load_blt(tmp_path / "blt")


def test_tied_embeddings_import_and_export(tmp_path):
    """The port ties its head to the encoder's byte embedding under tie_word_embeddings=true and saves
    lm_head.weight alone; bytepatch refused such a directory, saying 'the port's BLT never ties'."""
    from transformers import BltForCausalLM

    hf = save_hf(tmp_path / "blt", seed=43, tie_word_embeddings=True)
    assert hf.lm_head.weight.data_ptr() == hf.model.local_encoder.embed_tokens.weight.data_ptr()
    ckpt = load_blt(tmp_path / "blt")
    model = ckpt.model
    assert torch.equal(model.decoder.head.weight, model.encoder.tok_emb.weight)
    ids = ids_batch(44)
    diff = (ours(model, ids, LENGTHS) - theirs(hf, ids, LENGTHS)).abs().max().item()
    print(f"\ntied: max |logit difference| = {diff:.3g}")
    assert diff < TOL
    save_blt(model, tmp_path / "out", entropy_model=ckpt.entropy_model, patcher=ckpt.patcher)  # written untied
    back = BltForCausalLM.from_pretrained(str(tmp_path / "out")).float().eval()
    assert torch.equal(theirs(back, ids, LENGTHS), theirs(hf, ids, LENGTHS))
    # a file holding both tensors of the tied pair, different, has no one meaning
    from bytepatch.models.hf.safetensors_io import load_file, save_file

    weights = tmp_path / "blt" / "model.safetensors"
    tensors = load_file(weights)
    save_file({**tensors, "model.local_encoder.embed_tokens.weight": tensors["lm_head.weight"] + 1}, weights)
    with pytest.raises(ValueError, match="tie_word_embeddings is true, but lm_head.weight and .* differ"):
        load_blt(tmp_path / "blt")


def test_more_hash_functions_than_primes(tmp_path):
    """The port cycles through its 11 primes; a directory with 12 hash functions loaded and then
    failed in the forward pass ('hash function index must be in [0, 11), got 11')."""
    hf = save_hf(
        tmp_path / "blt", seed=45, encoder_hash_byte_group_nb_functions=12, encoder_hash_byte_group_size=[2, 3]
    )
    model = load_blt(tmp_path / "blt").model
    assert model.config.encoder.hash_functions == 12
    ids = ids_batch(46)
    assert (ours(model, ids, LENGTHS) - theirs(hf, ids, LENGTHS)).abs().max() < TOL


def test_no_hash_ngrams_both_ways(tmp_path):
    """encoder_hash_byte_group_nb_functions=0 is the port's BLT without hash n-grams (a fused table of
    0 rows): bytepatch refused it ('hash_functions must be positive'), and refused to export
    ngram_sizes=() as if the port had no way to say it."""
    from transformers import BltForCausalLM

    hf = save_hf(tmp_path / "blt", seed=47, encoder_hash_byte_group_nb_functions=0)
    model = load_blt(tmp_path / "blt").model
    assert model.config.encoder.ngram_sizes == () and model.encoder.hash_emb is None
    ids = ids_batch(48)
    assert (ours(model, ids, LENGTHS) - theirs(hf, ids, LENGTHS)).abs().max() < TOL

    mine = reference_blt(49, encoder=replace(reference_blt(0).config.encoder, ngram_sizes=()))
    save_blt(mine, tmp_path / "out")
    port = BltForCausalLM.from_pretrained(str(tmp_path / "out")).float().eval()
    assert (ours(mine, ids, LENGTHS) - theirs(port, ids, LENGTHS)).abs().max() < TOL
    back = load_blt(tmp_path / "out").model
    assert back.config == mine.config


def test_a_shard_without_the_tensors_its_index_lists_is_refused(tmp_path):
    """A shard replaced by another file (here an empty one) was read as it came: a missing BLT tensor
    surfaced later without the shard's name, and missing patcher tensors made the directory read
    as one without a patcher."""
    import json

    from bytepatch.models.hf.safetensors_io import save_file

    save_hf(tmp_path / "blt", seed=55, max_shard_size="40KB")
    index = tmp_path / "blt" / "model.safetensors.index.json"
    weight_map = json.loads(index.read_text())["weight_map"]
    name = sorted(n for n in weight_map if n.startswith("model.patcher."))[0]
    shard = weight_map[name]
    save_file({}, tmp_path / "blt" / shard)
    for load in (load_blt, load_patcher):  # the entropy model alone too (it reads the headers only)
        with pytest.raises(ValueError, match=f"{index}: lists tensor '.*' in {shard}, which does not hold it"):
            load(tmp_path / "blt")


def test_a_missing_shard_or_a_truncated_file_is_refused_naming_it(tmp_path):
    import json

    save_hf(tmp_path / "sharded", seed=57, max_shard_size="40KB")
    index = tmp_path / "sharded" / "model.safetensors.index.json"
    shard = sorted(set(json.loads(index.read_text())["weight_map"].values()))[1]
    (tmp_path / "sharded" / shard).unlink()
    with pytest.raises(ValueError, match=f"{index}: shard {shard} is missing"):
        load_blt(tmp_path / "sharded")
    save_hf(tmp_path / "blt", seed=57)
    weights = tmp_path / "blt" / "model.safetensors"
    with open(weights, "r+b") as f:
        f.truncate(weights.stat().st_size - 1000)
    with pytest.raises(ValueError, match=f"{weights}: tensor '.*': data_offsets .* outside the"):
        load_blt(tmp_path / "blt")


def test_a_patcher_without_a_window_is_refused_naming_the_key(tmp_path):
    """It was refused with 'the entropy LM needs a sliding window (config.window)', naming neither the
    file nor the port's key."""
    config = dict(hidden_size=32, num_attention_heads=2, num_hidden_layers=1, sliding_window=None)
    save_hf(tmp_path / "blt", seed=59, patcher_config=config)
    where = f"{tmp_path / 'blt' / 'config.json'}: patcher_config: sliding_window=null"
    with pytest.raises(UnsupportedSetting, match=where):
        load_blt(tmp_path / "blt")
    with pytest.raises(UnsupportedSetting, match=where):
        load_patcher(tmp_path / "blt")


def test_max_patch_length_leaves_the_ports_last_patch_open(tmp_path):
    """docs/models.md: with max_patch_length set, the port's split (process_patch_lengths) drops
    zero-length patches, so its last patch is always open; the reference's split keeps them, and
    bytepatch decides the position after the last byte as the reference does. The two agree on every
    byte but the last, and on that one too when the last patch is left open on bytepatch's side."""
    max_len = 3
    hf = save_hf(tmp_path / "blt", seed=61, max_patch_length=max_len)
    ckpt = load_blt(tmp_path / "blt")
    assert ckpt.patcher["max_patch_length"] == max_len
    closing_seen = open_seen = 0
    for seed in range(8):
        doc = bytes(np.random.default_rng(seed).integers(0, 256, 40, dtype=np.uint8))
        ids = torch.tensor([[BOS_ID, *(b + OFFSET for b in doc)]])
        h = ckpt.entropy_model.entropies([doc + b"\0"])[0]
        threshold = splitting_threshold(h)
        hf.config.patching_threshold = threshold
        spec = EntropyPatcherConfig(threshold=threshold, max_patch_length=max_len)
        patcher = EntropyPatcher(spec, model=ckpt.entropy_model)
        with torch.no_grad():
            port_lengths = hf.model.patcher(ids, patch_size=4, threshold=threshold, max_patch_length=max_len)[1]
        assert port_lengths[0].tolist() == [1, *patcher.patch_lengths(doc).tolist()]  # never a trailing zero
        port = theirs(hf, ids)
        assert (ours(ckpt.model, ids, port_lengths) - port).abs().max() < TOL  # its last patch open
        ahead = torch.tensor([[1, *patcher.patch_lengths(doc + b"\0")]])  # bytepatch's rule (generation's)
        with torch.no_grad():
            mine = ckpt.model(torch.cat([ids, torch.tensor([[OFFSET]])], 1), ahead)[0][:, :-1]
        assert (mine[:, :-1] - port[:, :-1]).abs().max() < TOL
        if ahead[0, -1] == 1:  # bytepatch closes its last patch after the last byte: the port never does
            closing_seen += int((mine[:, -1] - port[:, -1]).abs().max() > TOL)
        else:  # left open on both sides: the last byte agrees too
            open_seen += 1
            assert (mine[:, -1] - port[:, -1]).abs().max() < TOL
    assert closing_seen and open_seen  # both cases came up, and closing differs there


def test_greedy_generation_equals_the_ports_generate(tmp_path):
    """bytepatch's online patching and KV-cached stepping reproduce the port's `generate` (which
    re-patches and recomputes the whole text every step), byte for byte."""
    from transformers import BltForCausalLM

    from bytepatch.ids import EOS_ID
    from bytepatch.models.generation.generate import Sampling, generate_bytes

    hf = random_hf_model(63)
    prompt = b"The history of patches "
    ids = torch.tensor([[BOS_ID, *(b + OFFSET for b in prompt)]])
    with torch.no_grad():
        hf.config.patching_threshold = splitting_threshold(hf.model.patcher(ids)[0][0].numpy())
    hf.save_pretrained(str(tmp_path / "blt"))
    port = BltForCausalLM.from_pretrained(str(tmp_path / "blt")).float().eval()
    ckpt = load_blt(tmp_path / "blt")
    n = 12
    with torch.no_grad():  # bytepatch samples bytes and EOS only: the port's other special ids are suppressed
        out = port.generate(
            ids, max_new_tokens=n, do_sample=False, use_cache=False, suppress_tokens=[0, 1, 3], eos_token_id=EOS_ID
        )
    expected = bytes(t - OFFSET for t in out[0, ids.shape[1] :].tolist() if t != EOS_ID)
    assert len(expected) == n
    for cache in (True, False):
        got = generate_bytes(
            ckpt.model,
            prompt,
            patcher=ckpt.patcher,
            entropy_model=ckpt.entropy_model,
            sampling=Sampling(max_bytes=n, temperature=0),
            cache=cache,
        )
        assert got == expected, cache


_LOCAL = dict(hidden_size=32, num_attention_heads=2, cross_attn_k=2, hidden_size_global=48)


@pytest.mark.parametrize(
    "changes",
    [
        dict(
            encoder_hash_byte_group_size=[2, 3],
            encoder_hash_byte_group_vocab=53,
            encoder_hash_byte_group_nb_functions=2,
        ),
        dict(decoder_config=dict(_LOCAL, num_hidden_layers=3, cross_attn_all_layers=False, intermediate_size=96)),
        dict(encoder_config=dict(_LOCAL, num_hidden_layers=2), local_attention_window_len=4),
        dict(encoder_config=dict(_LOCAL, num_hidden_layers=1, cross_attn_all_layers=True)),
        dict(
            cross_attn_k=3,
            encoder_config=dict(_LOCAL, cross_attn_k=3, num_hidden_layers=1, num_attention_heads=4),
            decoder_config=dict(_LOCAL, cross_attn_k=3, num_hidden_layers=2, num_attention_heads=8),
        ),
        dict(
            cross_attn_k=1,  # k x encoder width = global width: no token_embedding_projection
            global_config=dict(hidden_size=32, num_attention_heads=2, num_hidden_layers=1),
            encoder_config=dict(_LOCAL, cross_attn_k=1, hidden_size_global=32, num_hidden_layers=1),
            decoder_config=dict(_LOCAL, cross_attn_k=1, hidden_size_global=32, num_hidden_layers=2),
        ),
        dict(
            encoder_config=dict(
                _LOCAL, num_hidden_layers=1, rope_parameters={"rope_type": "default", "rope_theta": 1e3}
            ),
            decoder_config=dict(_LOCAL, num_hidden_layers=2, rms_norm_eps=0.3, rope_parameters={"rope_theta": 77.0}),
            global_config=dict(hidden_size=48, num_attention_heads=4, num_hidden_layers=2, rms_norm_eps=0.1),
        ),
    ],
    ids=[
        "hashes",
        "decoder-cross-first-only",
        "encoder-2-layers-window-4",
        "encoder-all-1-layer",
        "k3-heads",
        "k1",
        "rope-eps",
    ],
)
def test_config_variations_import_and_export_exactly(tmp_path, changes):
    from transformers import BltForCausalLM

    hf = save_hf(tmp_path / "blt", seed=65, **changes)
    ckpt = load_blt(tmp_path / "blt")
    ids = ids_batch(66)
    assert (ours(ckpt.model, ids, LENGTHS) - theirs(hf, ids, LENGTHS)).abs().max() < TOL
    save_blt(ckpt.model, tmp_path / "out", entropy_model=ckpt.entropy_model, patcher=ckpt.patcher)
    back = BltForCausalLM.from_pretrained(str(tmp_path / "out")).float().eval()
    assert torch.equal(theirs(back, ids, LENGTHS), theirs(hf, ids, LENGTHS))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_checkpoints(tmp_path, dtype):
    """Weights stored in bf16/fp16 load in float32 and compute what the port computes with them in float32."""
    from transformers import BltForCausalLM

    random_hf_model(67).to(dtype).save_pretrained(str(tmp_path / "blt"))
    port = BltForCausalLM.from_pretrained(str(tmp_path / "blt"), dtype=torch.float32).eval()
    model = load_blt(tmp_path / "blt").model
    assert next(model.parameters()).dtype == torch.float32
    ids = ids_batch(68)
    assert (ours(model, ids, LENGTHS) - theirs(port, ids, LENGTHS)).abs().max() < TOL


def test_an_exported_entropy_model_keeps_its_config_and_fingerprint(tmp_path):
    """An entropy model whose settings the port spells otherwise (tied embeddings, an FFN width from
    multiple_of) came back from its BltPatcher, or from a BLT export, with another config and so
    another fingerprint: the datasets it had patched no longer matched the export."""
    import json

    from transformers.models.blt.modeling_blt import BltPatcher

    from bytepatch.models.entropy_lm import TransformerEntropyModel
    from bytepatch.models.hf import save_patcher
    from bytepatch.models.nn.transformer import ByteTransformer, ByteTransformerConfig

    torch.manual_seed(69)
    config = ByteTransformerConfig(n_layers=1, dim=32, n_heads=2, window=WINDOW, tie_embeddings=True, multiple_of=64)
    lm = TransformerEntropyModel(ByteTransformer(config).eval(), 3.0, {})
    save_patcher(lm, tmp_path / "patcher")
    port = BltPatcher.from_pretrained(str(tmp_path / "patcher")).eval()
    port.save_pretrained(str(tmp_path / "resaved"))  # the port keeps the record
    doc = b"an entropy model exported and read back, longer than the window"
    ids = torch.tensor([[BOS_ID, *(b + OFFSET for b in doc)]])
    with torch.no_grad():
        port_h = port(ids)[0][0, :-1].numpy()
    for where in ("patcher", "resaved"):
        back = load_patcher(tmp_path / where)
        assert back.config == config and back.fingerprint == lm.fingerprint
        np.testing.assert_allclose(back.entropies([doc])[0], port_h, atol=1e-5)
    save_blt(reference_blt(70), tmp_path / "blt", entropy_model=lm, patcher={"patcher": "entropy", "threshold": 3.0})
    assert load_blt(tmp_path / "blt").entropy_model.fingerprint == lm.fingerprint

    # a record that no longer describes the port's settings beside it is refused, not believed
    path = tmp_path / "resaved" / "config.json"
    edited = json.loads(path.read_text())
    edited["intermediate_size"] += 8
    path.write_text(json.dumps(edited))
    with pytest.raises(ValueError, match="bytepatch_model .* describes another network"):
        load_patcher(tmp_path / "resaved")
    # a tied record beside two different tensors (the port trained them apart) cannot be loaded tied
    from bytepatch.models.hf.safetensors_io import load_file, save_file

    weights = tmp_path / "patcher" / "model.safetensors"
    tensors = load_file(weights)
    save_file({**tensors, "lm_head.weight": tensors["lm_head.weight"] + 1}, weights)
    with pytest.raises(ValueError, match="ties its embeddings, but embed_tokens.weight and lm_head.weight differ"):
        load_patcher(tmp_path / "patcher")


def test_a_conversion_stopped_before_its_last_file_leaves_no_run(tmp_path, monkeypatch):
    """hf_to_run_dir wrote checkpoint.pt before config.json: stopped between the two, it left a
    directory that eval read as a complete run."""
    from bytepatch.models.hf import convert
    from bytepatch.models.train import load_checkpoint

    save_hf(tmp_path / "blt", seed=73)
    writes = []

    class Stopped(Exception):
        """The process stopping there (a signal, a full disk)."""

    def counted(write):
        def wrapper(*args, **kwargs):
            writes.append(args[0])
            if len(writes) == 2:  # the second and last file of the run (the entropy model is saved before)
                raise Stopped
            return write(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(convert, "save_state", counted(convert.save_state))
    monkeypatch.setattr(convert, "atomic_write_text", counted(convert.atomic_write_text))
    with pytest.raises(Stopped):
        convert.hf_to_run_dir(tmp_path / "blt", tmp_path / "run")
    monkeypatch.undo()
    with pytest.raises(FileNotFoundError, match="checkpoint.pt: no such file"):
        load_checkpoint(tmp_path / "run")
