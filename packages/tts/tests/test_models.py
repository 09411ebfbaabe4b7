"""Generator, aligner, regenerators, direct baseline: shapes, sampling, bad conditions."""

import dataclasses

import numpy as np
import pytest
import torch

from regen_core.pipeline import load_run_config
from regen_tts.align import monotonic_alignment_search
from regen_tts.generate import ConditionError, regulate_length
from regen_tts.pairing import TTSPairing, collate_tts
from regen_tts.regenerate import GriffinLim, RegenerateError


@pytest.fixture(scope="module")
def toy():
    cfg = load_run_config(TTSPairing, "toy").pairing
    pairing = TTSPairing(cfg)
    return pairing, pairing.load_data()


def test_length_regulator_repeats_states():
    h = torch.arange(3.0).view(1, 3, 1).expand(2, 3, 2)  # (B, P, d)
    out, lengths = regulate_length(h, torch.tensor([[2, 0, 1], [1, 1, 1]]))
    assert lengths.tolist() == [3, 3]
    assert out[0, :, 0].tolist() == [0, 0, 2] and out[1, :, 0].tolist() == [0, 1, 2]


def test_mas_is_monotonic_and_covers_every_phoneme():
    torch.manual_seed(0)
    log_attn = torch.log_softmax(torch.randn(2, 12, 5), -1)
    hard = monotonic_alignment_search(log_attn, torch.tensor([5, 3]), torch.tensor([12, 7]))
    for b, (p, t) in enumerate([(5, 12), (3, 7)]):
        owner = hard[b, :t, :p].argmax(-1)
        assert (hard[b, :t, :p].sum(-1) == 1).all() and (owner.diff() >= 0).all() and (owner.diff() <= 1).all()
        assert owner[0] == 0 and owner[-1] == p - 1 and hard[b, t:].sum() == 0


def test_aligner_trains_without_timings(toy):
    pairing, data = toy
    aligned = TTSPairing(dataclasses.replace(pairing.config, durations="aligner"))
    ext = aligned.build("extract")
    sd = aligned.stage_data("generate", data, ext)
    assert "durations" not in sd.train[0]
    model = aligned.build("generate", ext).train()
    loss, stats = model(sd.collate(sd.train[:3]))
    loss.backward()
    assert "align_ctc" in stats and torch.isfinite(loss)
    assert model.backbone.aligner.key[0].weight.grad.abs().sum() > 0


def test_generator_sampling_temperature_and_long_text(toy):
    pairing, data = toy
    ext = pairing.build("extract")
    gen = pairing.build("generate", ext).eval()
    x = data["test"][0]["x"]
    assert np.array_equal(gen.sample(x, seed=0, temperature=0), gen.sample(x, seed=5, temperature=0))
    one = gen.sample({"text": "One short sentence.", "speaker": x["speaker"]}, seed=0, temperature=0)
    three = gen.sample({"text": "One short sentence. " * 3, "speaker": x["speaker"]}, seed=0, temperature=0)
    assert three.shape[0] > 2 * one.shape[0]
    assert gen.sample("plain text works too", seed=0).shape[1] == pairing.config.n_mels
    with pytest.raises(ConditionError, match="unknown speaker"):
        gen.sample({"text": "hi there", "speaker": "nobody"})
    from regen_tts.text import TextError

    with pytest.raises(TextError):
        gen.sample({"text": "?!", "speaker": x["speaker"]})


def test_teacher_forced_mels_line_up_with_targets(toy):
    pairing, data = toy
    ext = pairing.build("extract")
    rows = pairing.generator_rows(data["valid"], ext)
    mels = pairing.build("generate", ext).eval().teacher_forced(collate_tts(rows))
    assert [m.shape for m in mels] == [r["target"].shape for r in rows]
    assert all(r["durations"].sum() == r["frames"] for r in rows)


def test_griffinlim_is_deterministic_and_rejects_bad_mels(toy):
    pairing, data = toy
    mel = pairing.build("extract").extract(data["test"][0]["audio"])
    gl = GriffinLim(pairing.log_mel(), 4)
    a, b = gl.sample(mel, seed=0), gl.sample(mel, seed=1)
    assert np.array_equal(a, b) and len(a) == (len(mel) - 1) * pairing.config.hop
    with pytest.raises(RegenerateError):
        gl.sample(mel[:, :3])
    bad = mel.copy()
    bad[0, 0] = np.nan
    with pytest.raises(RegenerateError, match="NaN"):
        gl.sample(bad)


def test_both_sides_have_the_same_parameter_class(toy):
    pairing, _ = toy
    cfg = load_run_config(TTSPairing, "tiny").pairing
    p = TTSPairing(cfg)
    ext = p.build("extract")
    count = lambda m: sum(t.numel() for t in m.parameters() if t.requires_grad)  # noqa: E731
    regen = count(p.build("generate", ext)) + count(p.build("regenerate", ext))
    direct = count(p.build("direct", ext))
    assert 0.7 < direct / regen < 1.3


def test_envelope_of_a_flat_spectrum_is_flat():
    from regen_tts.extract import LogMel
    from regen_tts.regenerate import envelope_interpolation

    mel = LogMel(16000, 512, 128, 512, 40)
    interp, log_area = envelope_interpolation(mel.fb)
    assert torch.allclose(interp.sum(1), torch.ones(interp.shape[0]))  # convex weights per bin
    flat = torch.full((mel.fb.shape[1], 1), 0.3)  # (F, 1) magnitude
    log_mel = (mel.fb @ flat).log().T  # (1, n_mels)
    env = interp @ (log_mel[0] - log_area)  # (F,)
    assert torch.allclose(env, torch.full_like(env, float(np.log(0.3))), atol=1e-4)


def test_vocoder_starts_from_the_pseudo_inverse_prior_and_trains(toy):
    pairing, data = toy
    torch.manual_seed(0)
    voc = pairing.build("regenerate")
    wave = torch.as_tensor(np.asarray(data["train"][0]["audio"], np.float32))[None, :2048]  # (1, S)
    mel = voc.mel(wave)  # (1, T, n_mels)
    log_mag, _ = voc.net.head.spectrum(voc.net.features(mel), voc.prior(mel))
    assert torch.allclose(log_mag, voc.prior(mel).clamp(max=8.0))  # zero-initialised correction
    loss, stats = voc({"audio": wave.repeat(2, 1)})
    loss.backward()
    assert {"lsd_db", "spec_lsd_db", "stft_mag"} <= set(stats) and torch.isfinite(loss)
    assert voc.net.head.proj.weight.grad.abs().sum() > 0
    plain = TTSPairing(dataclasses.replace(pairing.config, voc_mag_prior=False)).build("regenerate")
    assert plain.prior(mel) is None and plain.sample(mel[0].numpy()).shape == voc.sample(mel[0].numpy()).shape


def test_every_shipped_preset_loads_and_builds():
    from pathlib import Path

    import regen_tts

    presets = sorted((Path(regen_tts.__file__).parent / "presets").glob("*.yaml"))
    assert {p.stem for p in presets} >= {"toy", "tiny", "demo", "bench"}
    for path in presets:
        run_cfg = load_run_config(TTSPairing, path.stem)
        p = TTSPairing(run_cfg.pairing)
        ext = p.build("extract")
        for stage in ("generate", "regenerate", "direct"):
            assert isinstance(p.build(stage, ext), torch.nn.Module)
        assert run_cfg.evaluate.seeds
