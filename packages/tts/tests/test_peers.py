"""The pretrained peer vocoder (optional extra ``peers``) and the vocoder bench's judging."""

from __future__ import annotations

import json

import numpy as np
import pytest

from regen_tts.bench_vocoder import judge_systems
from regen_tts.config import TTSConfig
from regen_tts.pairing import TTSPairing

from regen_tts import peers


@pytest.fixture(scope="module")
def speech16k() -> np.ndarray:
    import soxr
    from regen_speech import espeak

    out = espeak.synthesize("Hello there, how are you today?", "en-us")
    return soxr.resample(np.asarray(out.audio, np.float32), out.sample_rate, 16000).astype(np.float32)


def test_hifigan_peer_resynthesises_speech(speech16k):
    try:
        peer = peers.HifiGan16k()
    except peers.PeerMissingError as err:
        pytest.skip(f"the peer is not installed here: {err}")
    wave = peer.sample(speech16k)
    assert wave.dtype == np.float32 and abs(len(wave) - len(speech16k)) <= peers.HOP * 2
    assert peer.parameters > 10_000_000
    pairing = TTSPairing(TTSConfig(sample_rate=16000))
    rng = np.random.default_rng(0)
    res = judge_systems(pairing, {"hifigan": peer.sample, "noise": lambda a: rng.normal(0, 0.05, len(a)).astype(np.float32)},
                        [speech16k], band_hz=4000)
    assert res["hifigan"]["lsd_db"] < res["noise"]["lsd_db"] - 3, res
    assert res["hifigan"]["real_time_factor"] > 0 and "lsd_db_in_band" in res["hifigan"]


def test_missing_peer_is_a_typed_error(monkeypatch, tmp_path):
    monkeypatch.setattr(peers.sysconfig, "get_path", lambda name: str(tmp_path))
    with pytest.raises(peers.PeerMissingError, match="pip install 'regen-tts\\[peers\\]'"):
        peers.checkpoint_path()


def test_a_changed_peer_file_is_refused(monkeypatch, tmp_path):
    (tmp_path / "ckpts").mkdir()
    (tmp_path / "ckpts" / peers.CHECKPOINT).write_bytes(b"not the vocoder")
    monkeypatch.setattr(peers.sysconfig, "get_path", lambda name: str(tmp_path))
    with pytest.raises(peers.PeerMissingError, match="SHA-256 differs"):
        peers.checkpoint_path()


def test_vocoder_bench_at_toy_size(tmp_path, monkeypatch):
    from regen_speech import fsdd

    from regen_tts import bench_vocoder
    from regen_tts.bench import train_run

    if not fsdd.fsdd_dir().exists():
        pytest.skip("FSDD is not at ../shared/data/fsdd (set REGEN_SHARED_DATA)")
    run = train_run("toy", tmp_path / "run", [])
    out = tmp_path / "voc.json"
    assert bench_vocoder.main(["--model", str(run), "--out", str(out), "--n", "2"]) == 0
    result = json.loads(out.read_text())
    for part in ("fsdd_unseen_voices", "corpus_held_out"):
        assert {"regen_vocoder", "griffinlim_32"} <= set(result[part])
    assert result["systems"]["hifigan_16k"]["available"] is False  # the toy model runs at 8 kHz: said, not hidden
