"""The learned codec of tts-codec: its training path around transformers' EncodecModel, and pretrained folders."""

import dataclasses

import numpy as np
import pytest
import torch

from regen_core.contract import is_explicit
from regen_tts.codec import CodecDecoder, CodecExtractor, learned_encodec_config, load_encodec
from regen_tts.config import TTSConfig
from regen_tts.extract import ExtractError
from regen_tts.regenerate import RegenerateError

SR = 8000
TOY = TTSConfig(sample_rate=SR, n_fft=256, hop=64, win=256, n_mels=20, codec_ratios=(4, 4, 2), codec_codebooks=2,
                codec_codebook_size=16, codec_dim=8, codec_filters=4, codec_vq_warmup=0)


def speechlike(n: int, seed: int, seconds: float = 0.256) -> torch.Tensor:
    """(n, S) crops: harmonic tones with random pitch and a decaying envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    out = []
    for _ in range(n):
        f0 = rng.uniform(100, 300)
        wave = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in range(1, 6))
        out.append(0.3 * wave * np.exp(-t * rng.uniform(1, 6)))
    return torch.tensor(np.stack(out), dtype=torch.float32)  # (n, S)


def test_learned_codec_is_trainable_and_frozen_copies_are_explicit():
    torch.manual_seed(0)
    ext = CodecExtractor.learned(TOY)
    assert not is_explicit(ext) and ext.n_q == 2 and ext.codebook_size == 16 and ext.hop == 32
    dec = CodecDecoder(ext)
    assert is_explicit(dec), "the regenerate stage is the codec's frozen decoder"
    assert not is_explicit(ext), "building the regenerator must not freeze the extractor it copies"


def test_codec_training_step_reaches_the_encoder_through_the_straight_through_estimator():
    torch.manual_seed(0)
    ext = CodecExtractor.learned(TOY).train()
    loss, stats = ext({"audio": speechlike(4, 0)})
    loss.backward()
    enc = [p.grad for p in ext.codec.encoder.parameters()]
    assert all(g is not None for g in enc) and sum(float(g.abs().sum()) for g in enc) > 0
    assert stats["commit"] > 0 and stats["codes_used"] > 1  # codebooks initialised from the batch's latents


def test_quantisation_starts_after_the_warm_up_steps():
    torch.manual_seed(0)
    ext = CodecExtractor.learned(dataclasses.replace(TOY, codec_vq_warmup=2)).train()
    seen = []
    for step in range(3):
        _, stats = ext({"audio": speechlike(4, step)})
        seen.append((stats["commit"], stats["codes_used"], bool(ext.codebooks_ready.all())))
    assert seen[0] == seen[1] == (0.0, 0.0, False), "the first steps are a plain autoencoder"
    assert seen[2][0] > 0 and seen[2][1] > 1 and seen[2][2], "then the residual VQ is initialised and trained"


def test_codebooks_follow_their_latents_in_training_only():
    torch.manual_seed(0)
    ext = CodecExtractor.learned(TOY)
    cb = ext.codec.quantizer.layers[0].codebook
    ext.eval()
    before = cb.embed.clone()
    with torch.no_grad():
        ext({"audio": speechlike(4, 1)})
    assert torch.equal(cb.embed, before), "validation (eval mode) must not move the codebooks"
    assert not bool(ext.codebooks_ready.any())
    ext.train()
    with torch.no_grad():
        ext({"audio": speechlike(4, 1)})
    assert bool(ext.codebooks_ready.all()) and not torch.equal(cb.embed, before)


def test_codec_training_lowers_the_reconstruction_loss():
    torch.manual_seed(0)
    ext = CodecExtractor.learned(TOY).train()
    opt = torch.optim.AdamW(ext.parameters(), 3e-3)
    held = {"audio": speechlike(8, 99)}

    def held_loss() -> float:
        ext.eval()
        with torch.no_grad():
            loss, _ = ext(held)
        ext.train()
        return float(loss)

    ext(held)  # codebooks initialised from data, as on a first training step
    start = held_loss()
    for step in range(40):
        loss, _ = ext({"audio": speechlike(8, step)})
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert held_loss() < 0.8 * start


def test_extract_and_decode_round_trip_shapes_and_errors():
    torch.manual_seed(0)
    ext = CodecExtractor.learned(TOY).eval()
    y = speechlike(1, 3, seconds=0.3)[0].numpy()
    codes = ext.extract(y)
    assert codes.dtype == np.int64 and codes.shape == (int(np.ceil(len(y) / 32)), 2)
    assert np.array_equal(codes, ext.extract(y))
    wave = CodecDecoder(ext).sample(codes)
    assert wave.shape == (codes.shape[0] * 32,) and np.array_equal(wave, ext.decode(codes))
    with pytest.raises(RegenerateError, match="codes must be"):
        CodecDecoder(ext).sample(np.zeros((5, 3), np.int64))
    with pytest.raises(RegenerateError, match="codes must be in"):
        CodecDecoder(ext).sample(np.full((5, 2), 16, np.int64))
    with pytest.raises(ExtractError, match="mono"):
        ext.extract(np.zeros((2, 800), np.float32))


def test_a_pretrained_folder_is_explicit_and_the_bandwidth_picks_its_codebooks(tmp_path):
    from transformers import EncodecModel

    torch.manual_seed(0)
    config = learned_encodec_config(TOY)
    config.target_bandwidths = [1.0, 2.0]  # 1 or 2 codebooks of 16 at 250 frames/s
    trained = CodecExtractor.learned(TOY).train()
    with torch.no_grad():
        trained({"audio": speechlike(4, 5)})
    model = EncodecModel(config)
    model.load_state_dict(trained.encodec().state_dict())
    model.save_pretrained(tmp_path / "codec")
    ext = CodecExtractor(load_encodec(str(tmp_path / "codec")), SR, 2.0)
    assert is_explicit(ext) and ext.n_q == 2
    y = speechlike(1, 6)[0].numpy()
    assert np.array_equal(ext.extract(y), trained.eval().extract(y))
    assert CodecExtractor(load_encodec(str(tmp_path / "codec")), SR, 1.0).n_q == 1
    assert CodecExtractor(load_encodec(str(tmp_path / "codec")), SR, 0.0).n_q == 2  # 0 = the highest
    with pytest.raises(ExtractError, match="target bandwidths"):
        CodecExtractor(load_encodec(str(tmp_path / "codec")), SR, 6.0)
    with pytest.raises(ExtractError, match="nothing to train"):
        ext({"audio": speechlike(2, 0)})
    with pytest.raises(ExtractError, match="cannot load EnCodec"):
        load_encodec(str(tmp_path / "missing"))


def test_codec_settings_are_checked():
    with pytest.raises(ValueError, match="power of 2"):
        dataclasses.replace(TOY, codec_codebook_size=100)
    with pytest.raises(ValueError, match="codec_fsdd"):
        dataclasses.replace(TOY, codec_fsdd="maybe")
    with pytest.raises(ExtractError, match="target bandwidths"):  # the learned codec's only bandwidth is 2.0 kbps
        CodecExtractor.learned(dataclasses.replace(TOY, codec_bandwidth=3.0))
    assert CodecExtractor.learned(dataclasses.replace(TOY, codec_bandwidth=2.0)).n_q == 2


def test_codec_benchmark_runs_at_a_tiny_size(tmp_path):
    import json

    from regen_tts import bench_codec

    assert bench_codec.main(["--out", str(tmp_path), "--config", "toy", "--n", "2", "train.extract.max_steps=2",
                             "train.regenerate.max_steps=2"]) == 0
    report = json.loads((tmp_path / "bench_codec.json").read_text())
    for method in ("codec", "vocoder", "griffinlim"):
        r = report["results"][method]
        assert r["lsd_db"] > 0 and r["logmel_l1"] > 0 and r["rtf_synthesis"] > 0 and r["audio_seconds"] > 0
    assert report["results"]["codec"]["training"]["steps"] == 2 and report["results"]["codec"]["n_q"] == 2


def test_fsdd_joins_the_codec_audio_in_whole_pieces_up_to_its_share(tmp_path):
    import soundfile as sf

    from regen_core.pipeline import load_run_config
    from regen_speech.fsdd import FsddNotFoundError
    from regen_tts.pairing import TTSCodecPairing

    rec = tmp_path / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for speaker in ("ann", "bob"):
        for digit in (1, 2):
            for take in (0, 5, 10, 11, 12):  # test, valid, train takes
                sf.write(rec / f"{digit}_{speaker}_{take}.wav", (0.1 * rng.standard_normal(2400)).astype(np.float32), 8000)
    over = ["pairing.codec_fsdd=required", f"pairing.fsdd_dir={tmp_path / 'fsdd'}"]
    pairing = TTSCodecPairing(load_run_config(TTSCodecPairing, "toy", over).pairing)
    data = pairing.load_data()
    n_source = len(data["train"])
    rows = pairing.stage_data("extract", data, None).train
    extra = [r["audio"] for r in rows[n_source:]]
    assert extra and all(len(a) == 4 * pairing.config.segment for a in extra)  # whole pieces, no padding
    assert len(extra) <= round(pairing.config.codec_fsdd_share / (1 - pairing.config.codec_fsdd_share) * n_source)
    missing = TTSCodecPairing(load_run_config(TTSCodecPairing, "toy", [over[0], f"pairing.fsdd_dir={tmp_path / 'none'}"]).pairing)
    with pytest.raises(FsddNotFoundError):
        missing.stage_data("extract", data, None)
