"""The ASR pairing: speech (X) -> ARPAbet phonemes (Y') -> text (Y), against direct speech -> text.

1. extract     Y -> Y'   G2P: CMUdict + a neural G2P for out-of-vocabulary words (trained on CMUdict)
2. generate    X -> Y'   CTC phoneme recogniser (conv subsampling + transformer)
3. regenerate  Y' -> Y   P2G seq2seq trained on text alone (any text -> (phonemes, text) via the extractor)
   direct      X -> Y    CTC character recogniser, same encoder size and budget
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import weakref

import numpy as np
from torch import nn

from regen_core.contract import Metric, Spec, StageData
from regen_core.data import DataError

from . import data as asr_data
from .config import ASRConfig
from .direct import CharRecogniser
from .extract import G2PExtractor, lexicon_split
from .features import log_mel
from .generate import PhonemeRecogniser
from .metrics import cer, wer
from .regenerate import P2G


class ASRPairing:
    """speech -> phonemes -> text."""

    name: ClassVar[str] = "asr"
    x: ClassVar[Spec] = Spec("audio", "audio", "(T,) float32 mono @ sample_rate (16 kHz by default)")
    y: ClassVar[Spec] = Spec("text", "text", "str: normalised transcript (a-z, apostrophe, space)")
    y_prime: ClassVar[Spec] = Spec("phonemes", "tokens", "(P,) str: ARPAbet phonemes, '|' between words")
    headline: ClassVar[str] = "wer"  # the comparisons' lead metric (regen study, bench)
    # the recognisers' features, attention heads and the word separator the P2G reads (regen train --init)
    init_keeps: ClassVar[tuple[str, ...]] = ("sample_rate", "n_mels", "heads", "word_sep")
    metrics_spec: ClassVar[tuple[Metric, ...]] = (
        Metric("wer", False, "word error rate (jiwer), pooled over the test utterances"),
        Metric("cer", False, "character error rate (jiwer, spaces included), pooled over the test utterances"),
    )
    config_class: ClassVar[type] = ASRConfig

    def __init__(self, config: ASRConfig):
        self.config = config
        self._features: dict[str, list[np.ndarray]] = {}  # log-mel per split, shared by generate and direct
        # regenerators built but not yet given their text statistics: stage_data("regenerate") fits them
        self._unfitted: list[weakref.ref] = []

    # -- data ------------------------------------------------------------------------------

    def load_data(self) -> Any:
        return asr_data.load_paired(self.config)

    def _split_features(self, ds: Any) -> list[np.ndarray]:
        """Log-mel (T, n_mels) of every utterance of ``ds``, computed once per split and config."""
        key = asr_data.stable_hash(ds._fingerprint, self.config.sample_rate, self.config.n_mels)
        if key not in self._features:
            fs = self.config.features()
            audio = ds.with_format("numpy", columns=["audio"])
            self._features[key] = [log_mel(audio[i]["audio"], fs).numpy() for i in range(len(ds))]
        return self._features[key]

    def stage_data(self, stage: str, data: Any, extractor: Any) -> StageData:
        cfg = self.config
        if stage == "extract":
            # 1. The neural G2P learns from CMUdict (held-out words excluded), not from the corpus.
            ex = G2PExtractor(cfg.g2p())
            ph = ex.phonemes

            def lex_rows(split: str, limit: int) -> list[dict]:
                return [{"letters": np.asarray(ex.encode_word(w)), "phonemes": np.asarray(ph.encode(p) + [ph.eos])}
                        for w, p in lexicon_split(cfg.stress, split, limit)]

            valid_cap = cfg.n_valid if cfg.n_valid > 0 else 1000
            train = lex_rows("train", cfg.g2p_words)
            return StageData(train, lex_rows("valid", valid_cap), asr_data.seq2seq_collate("letters", "phonemes"),
                             lengths=[len(r["letters"]) + len(r["phonemes"]) for r in train])
        if extractor is None:
            raise ValueError(f"stage {stage!r} needs the (trained) extractor")
        if stage == "regenerate":
            # 2. Text only: every sentence becomes (phonemes, characters) through the extractor.
            p2g = P2G(cfg.p2g(), stress=cfg.stress)
            src_v, tgt_v = p2g.src_vocab, p2g.tgt_vocab

            def text_rows(texts: list[str]) -> list[dict]:
                phonemes = extractor.extract_many(texts)
                return [{"phonemes": np.asarray(src_v.encode(p, what="phoneme")),
                         "chars": np.asarray(tgt_v.encode(t, what="character") + [tgt_v.eos])}
                        for p, t in zip(phonemes, texts) if p]

            texts = asr_data.text_corpus(cfg, data)
            train = text_rows(texts)
            valid = text_rows(asr_data.cap(list(data["valid"]["text"]), cfg.n_valid))
            # the lexicon decoder's word LM and lexicon are counted on the same text (regen_core's trainer
            # only runs gradient steps, so the regenerator built for this stage is fitted here)
            for ref in self._unfitted:
                model = ref()
                if model is not None and model.extractor is extractor and not model.fitted:
                    model.fit_text(texts)
            self._unfitted = [r for r in self._unfitted if r() is not None and not r().fitted]
            return StageData(train, valid, asr_data.seq2seq_collate("phonemes", "chars"),
                             lengths=[len(r["phonemes"]) + len(r["chars"]) for r in train])
        if stage in ("generate", "direct"):
            # 3. Paired audio: log-mel features with phoneme (generate) or character (direct) targets.
            if stage == "generate":
                vocab = PhonemeRecogniser(cfg.encoder(), cfg.features(), stress=cfg.stress).vocab

                def targets(texts: list[str]) -> list[list[int]]:
                    return [vocab.encode(p, what="phoneme") for p in extractor.extract_many(texts)]
            else:
                vocab = CharRecogniser(cfg.encoder(), cfg.features()).vocab

                def targets(texts: list[str]) -> list[list[int]]:
                    return [vocab.encode(t, what="character") for t in texts]

            def rows(ds: Any, n: int) -> list[dict]:
                ds = ds if n <= 0 or n >= len(ds) else ds.select(range(n))
                feats = self._split_features(ds)
                return [{"features": f, "targets": np.asarray(t, dtype=np.int64)}
                        for f, t in zip(feats, targets(list(ds["text"])))]

            train = rows(data["train"], 0)
            return StageData(train, rows(data["valid"], cfg.n_valid), asr_data.ctc_collate,
                             lengths=[len(r["features"]) for r in train])
        raise ValueError(f"unknown stage {stage!r}; expected extract, generate, regenerate or direct")

    # -- models ----------------------------------------------------------------------------

    @classmethod
    def export_onnx(cls, run: str, out: str) -> dict:
        """The optional ONNX hook (:class:`regen_core.contract.OnnxExport`): see :mod:`regen_asr.export`."""
        from .export import export_run

        return export_run(run, out, pairing_name=cls.name)

    def build(self, stage: str, extractor: Any = None) -> nn.Module:
        cfg = self.config
        if stage == "extract":
            return G2PExtractor(cfg.g2p())
        if stage == "generate":
            return PhonemeRecogniser(cfg.encoder(), cfg.features(), stress=cfg.stress)
        if stage == "regenerate":
            model = P2G(cfg.p2g(), stress=cfg.stress, extractor=extractor)
            if cfg.p2g_mode == "lexicon":
                self._unfitted = [r for r in self._unfitted if r() is not None] + [weakref.ref(model)]
            return model
        if stage == "direct":
            return CharRecogniser(cfg.encoder(), cfg.features())
        raise ValueError(f"unknown stage {stage!r}; expected extract, generate, regenerate or direct")

    # -- metrics ---------------------------------------------------------------------------

    def metrics(self, prediction: Any, reference: Any, x: Any = None) -> dict[str, float]:
        if not isinstance(prediction, str):
            raise TypeError(f"an ASR prediction is a str transcript, got {type(prediction).__name__}")
        return {"wer": wer(reference, prediction), "cer": cer(reference, prediction)}

    def set_metrics(self, predictions: list[str], references: list[str], xs: list[Any] | None = None) -> dict[str, float]:
        """Corpus-level WER and CER (errors pooled over utterances, the usual ASR convention)."""
        return {"wer": wer(references, predictions), "cer": cer(references, predictions)}

    def parse_x(self, text: str) -> np.ndarray:
        """``regen sample --x FILE.wav``: read, down-mix and resample an audio file."""
        from regen_speech.audio import load_audio

        if not Path(text).exists():
            raise DataError(f"--x must be an audio file for the asr pairing; {text!r} does not exist")
        return load_audio(text, self.config.sample_rate, verbose=True).audio

    def visualise(self, folder: Any, name: str, *, x: Any, y_prime: Any, prediction: Any, reference: Any) -> list[Path]:
        """A log-mel picture titled with the transcripts, plus a .txt and the audio as .wav."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from regen_speech.audio import save_wav

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        audio = np.asarray(x, dtype=np.float32)
        mel = log_mel(audio, self.config.features()).numpy()  # (frames, n_mels)
        fig, ax = plt.subplots(figsize=(8, 3))
        ax.imshow(mel.T, origin="lower", aspect="auto", cmap="magma")
        ax.set_xlabel("frame (10 ms)")
        ax.set_title(f"hyp: {prediction}\nref: {reference}", fontsize=8, loc="left")
        png = folder / f"{name}.png"
        fig.tight_layout()
        fig.savefig(png, dpi=80)
        plt.close(fig)
        txt = folder / f"{name}.txt"
        lines = [f"prediction: {prediction}", f"reference:  {reference}"]
        if y_prime is not None:
            lines.append(f"phonemes:   {' '.join(y_prime)}")
        txt.write_text("\n".join(lines) + "\n", encoding="utf-8")
        wav = folder / f"{name}.wav"
        save_wav(wav, audio, self.config.sample_rate)
        return [png, txt, wav]

    def serve_tab(self, models: Any) -> None:
        """Its tab of ``regen serve`` (:mod:`regen_asr.serve`; gradio is imported there)."""
        from .serve import build_tab

        build_tab(self, models)
