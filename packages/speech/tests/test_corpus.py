"""regen_speech.corpus: a deterministic synthetic multi-speaker corpus that loads as a Dataset."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from regen_speech import espeak
from regen_speech.corpus import (
    CorpusConfig,
    CorpusError,
    build_corpus,
    load_corpus,
    main,
    plan,
    read_corpus_info,
    split_by_speaker,
)

pytestmark = pytest.mark.skipif(
    not espeak.available(), reason="libespeak-ng is not installed (Debian packages espeak-ng, libespeak-ng1)"
)

SPEAKERS = ("en-us+m3", "en-gb+f2", "en-gb-scotland+m1")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REGEN_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def sentence_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "sentences.txt"
    path.write_text(
        "The cat sat on the warm mat.\nIt cost $5 in 1999.\nRivers filled to overflowing by melted snow.\n"
        "She bought it for everyday wear.\nWe were surprised by the extravagance of his description.\n"
        "A deep plot was hatched.\nThe students had to research the history of the war.\n",
        encoding="utf-8",
    )
    return path


def _fingerprint(folder):
    """sha256 of every file of a corpus folder."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_build_is_deterministic_whatever_num_proc(tmp_path):
    config = CorpusConfig(n=6, seed=3, speakers=SPEAKERS)  # sentences: WordNet examples
    a = build_corpus(tmp_path / "a", config, progress=False)
    b = build_corpus(tmp_path / "b", config, num_proc=2, progress=False)
    fa, fb = _fingerprint(a), _fingerprint(b)
    assert fa == fb  # metadata, timings, corpus.json and every wav, byte for byte
    assert sorted(fa) == ["corpus.json", "metadata.csv", "timings.jsonl"] + [f"wavs/utt{i:06d}.wav" for i in range(6)]
    c = build_corpus(tmp_path / "c", CorpusConfig(n=6, seed=4, speakers=SPEAKERS), progress=False)
    assert (a / "metadata.csv").read_text() != (c / "metadata.csv").read_text()  # the seed matters


def test_layout_and_loading(tmp_path, sentence_file):
    config = CorpusConfig(n=7, seed=0, speakers=SPEAKERS, sentences=str(sentence_file), sample_rate=16000)
    folder = build_corpus(tmp_path / "corpus", config, progress=False)

    # metadata.csv: id|text|normalized; the normalized text is what was spoken
    lines = (folder / "metadata.csv").read_text(encoding="utf-8").splitlines()
    rows = [line.split("|") for line in lines]
    assert len(rows) == 7 and all(len(r) == 3 for r in rows)
    assert ["It cost $5 in 1999.", "It cost five dollars in one thousand nine hundred ninety nine."] in [r[1:] for r in rows]
    info = read_corpus_info(folder)
    assert info["sample_rate"] == 16000 and info["speakers"] == list(SPEAKERS) and info["num_utterances"] == 7
    assert info["espeak_ng_version"] == espeak.version() and "ð" in info["phoneme_inventory"]
    speakers = [json.loads(line)["speaker"] for line in (folder / "timings.jsonl").read_text().splitlines()]
    assert sorted(speakers.count(s) for s in SPEAKERS) == [2, 2, 3]  # balanced assignment

    ds = load_corpus(folder)
    for col in ("id", "text", "normalized", "speaker", "audio", "sample_rate", "phonemes", "phoneme_starts", "phoneme_ends"):
        assert col in ds.column_names
    assert ds["id"] == [r[0] for r in rows] and ds["text"] == [r[1] for r in rows]
    for ex in ds.with_format("numpy"):
        audio, starts, ends = ex["audio"], ex["phoneme_starts"], ex["phoneme_ends"]
        assert audio.dtype == np.float32 and ex["sample_rate"] == 16000
        assert len(audio) / 16000 == pytest.approx(ex["duration"], abs=1e-3)
        assert len(ex["phonemes"]) == len(starts) == len(ends) > 5
        assert np.all(np.diff(starts) >= 0) and ends[-1] == pytest.approx(ex["duration"], abs=1e-3)
        assert ex["speaker"] == f"{ex['accent']}+{ex['variant']}"
        # words espeak reported, in order (it folds some unstressed words such as "to" into the next)
        spoken = iter(w.strip(".,$").lower() for w in ex["normalized"].split())
        assert len(ex["words"]) >= 3 and all(w.lower() in spoken for w in ex["words"])
    # phoneme times are in seconds: resampling on load changes samples, not times
    ds22 = load_corpus(folder, 22050)
    assert len(ds22[0]["audio"]) == pytest.approx(len(ds[0]["audio"]) * 22050 / 16000, abs=2)
    assert ds22[0]["phoneme_starts"] == ds[0]["phoneme_starts"]


def test_fast_mode_keeps_texts_and_speakers(tmp_path, sentence_file):
    exact = CorpusConfig(n=3, seed=1, speakers=SPEAKERS, sentences=str(sentence_file))
    fast = CorpusConfig(n=3, seed=1, speakers=SPEAKERS, sentences=str(sentence_file), reproducible=False)
    a = build_corpus(tmp_path / "exact", exact, progress=False)
    b = build_corpus(tmp_path / "fast", fast, progress=False)  # runs in a worker process
    assert (a / "metadata.csv").read_text() == (b / "metadata.csv").read_text()
    ta, tb = ([json.loads(x) for x in (f / "timings.jsonl").read_text().splitlines()] for f in (a, b))
    assert [t["speaker"] for t in ta] == [t["speaker"] for t in tb]
    assert [t["phonemes"] for t in ta] == [t["phonemes"] for t in tb]
    assert read_corpus_info(b)["config"]["reproducible"] is False
    assert espeak.synthesize("Still fresh here.", "en-us").audio.size  # this process's espeak was not touched


def test_speaker_split_holds_out_whole_speakers():
    import datasets

    speakers = [f"spk{i % 10}" for i in range(60)]
    ds = datasets.Dataset.from_dict({"id": [str(i) for i in range(60)], "speaker": speakers})
    parts = split_by_speaker(ds, valid=0.2, test=0.2, seed=1, hold_out_speakers=True)
    sets = {k: set(v["speaker"]) for k, v in parts.items()}
    assert len(sets["test"]) == 2 and len(sets["valid"]) == 2 and len(sets["train"]) == 6
    assert not (sets["train"] & sets["test"]) and not (sets["train"] & sets["valid"]) and not (sets["valid"] & sets["test"])
    again = split_by_speaker(ds, valid=0.2, test=0.2, seed=1, hold_out_speakers=True)
    assert all(parts[k]["id"] == again[k]["id"] for k in parts)
    fixed = split_by_speaker(ds, test_speakers=["spk3"], valid=0.1)
    assert set(fixed["test"]["speaker"]) == {"spk3"} and "spk3" not in set(fixed["train"]["speaker"])
    mixed = split_by_speaker(ds, valid=0.1, test=0.1, seed=0)  # utterance split: speakers shared
    assert sum(len(v) for v in mixed.values()) == 60 and set(mixed["test"]["speaker"]) & set(mixed["train"]["speaker"])
    with pytest.raises(ValueError, match="unknown speaker"):
        split_by_speaker(ds, test_speakers=["nobody"])
    with pytest.raises(ValueError, match="no training speakers"):
        split_by_speaker(ds, valid=0.5, test=0.5, hold_out_speakers=True)


def test_plan_validates_before_any_synthesis(tmp_path, sentence_file):
    with pytest.raises(espeak.VoiceError, match="en-xx"):
        plan(CorpusConfig(n=2, speakers=("en-xx+m1",), sentences=str(sentence_file)))
    with pytest.raises(CorpusError, match="duplicate speakers"):
        plan(CorpusConfig(n=2, speakers=("en-us+m3", "EN-US+m3"), sentences=str(sentence_file)))
    with pytest.raises(CorpusError, match="n must be positive"):
        plan(CorpusConfig(n=0))
    jobs, source = plan(CorpusConfig(n=3, seed=0, accents=("en-us", "en-gb"), variants=("m1",), rate_jitter=0.2, sentences=str(sentence_file)))
    assert {j.voice for j in jobs} <= {"en-us+m1", "en-gb+m1"} and source["pool_size"] == 7
    assert len({j.rate for j in jobs}) > 1 and all(140 <= j.rate <= 210 for j in jobs)


def test_existing_output_and_malformed_corpus(tmp_path, sentence_file):
    out = tmp_path / "corpus"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    config = CorpusConfig(n=2, speakers=SPEAKERS[:1], sentences=str(sentence_file))
    with pytest.raises(CorpusError, match="not empty"):
        build_corpus(out, config, progress=False)
    build_corpus(out, config, progress=False, overwrite=True)
    assert not (out / "keep.txt").exists() and not list(tmp_path.glob(".corpus.building-*"))
    (out / "timings.jsonl").write_text('{"id": "utt000000"}\n')
    with pytest.raises(CorpusError, match=r"timings.jsonl:1: missing field"):
        load_corpus(out)
    (out / "corpus.json").unlink()
    with pytest.raises(CorpusError, match="corpus.json: missing"):
        load_corpus(out)


def test_an_unspeakable_sentence_names_the_utterance(tmp_path):
    text = tmp_path / "punct.txt"
    text.write_text("A perfectly fine sentence.\n...\n", encoding="utf-8")
    config = CorpusConfig(n=2, seed=0, speakers=SPEAKERS[:1], sentences=str(text))
    with pytest.raises(CorpusError, match=r"utt00000\d .*'\.\.\.'.*SilentAudioError"):
        build_corpus(tmp_path / "out", config, progress=False)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.building-*"))


def test_command_line(tmp_path, sentence_file, capsys):
    out = tmp_path / "cli"
    args = ["--out", str(out), "--n", "3", "--speakers", "en-us+m3", "en-029+f4", "--sentences", str(sentence_file), "--quiet"]
    assert main(args) == 0
    assert "wrote 3 utterances" in capsys.readouterr().out
    assert len(list((out / "wavs").glob("*.wav"))) == 3
    assert main(args) == 2 and "not empty" in capsys.readouterr().err  # no silent overwrite
    assert main(["--list-voices"]) == 0 and "en-gb-scotland" in capsys.readouterr().out
