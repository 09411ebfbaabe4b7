"""The ASR pairing's settings: one frozen dataclass, a comment on every field."""

from __future__ import annotations

from dataclasses import dataclass

from .extract import G2PSettings
from .features import FeatureSettings
from .recogniser import EncoderSettings
from .lexdecode import LexDecodeSettings
from .regenerate import P2GSettings

DEFAULT_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
DEFAULT_VARIANTS = ("m1", "m3", "f2", "f4")


@dataclass(frozen=True)
class ASRConfig:
    """Settings of the ASR pairing (speech -> ARPAbet phonemes -> text)."""

    # -- data ---------------------------------------------------------------------------------
    corpus: str = "synthetic"  # "synthetic" (espeak-ng voices, speakers held out), "fsdd" (real digits) or "ljspeech"
    corpus_dir: str = ""  # ljspeech: the folder; fsdd: the FSDD root (default ../shared/data/fsdd); synthetic: a prebuilt corpus (default: built into the regen cache)
    n_utterances: int = 2000  # synthetic: utterances to synthesise
    accents: tuple[str, ...] = DEFAULT_ACCENTS  # synthetic: espeak-ng English accents
    variants: tuple[str, ...] = DEFAULT_VARIANTS  # synthetic: espeak-ng voice variants (speakers = accents x variants)
    test_speakers: tuple[str, ...] = ()  # synthetic: voices held out for test ("en-gb+f2"); empty = a seeded 20%
    valid_fraction: float = 0.1  # fraction of speakers (synthetic) or utterances (ljspeech) for validation
    test_fraction: float = 0.2  # fraction of speakers (synthetic) or utterances (ljspeech) for test
    sentences: str = "wordnet"  # sentence source of the synthetic corpus: "wordnet", "kjv" or a text file
    min_words: int = 5  # shortest built-in sentence
    max_words: int = 20  # longest built-in sentence
    rate_jitter: float = 0.1  # synthetic: per-utterance speaking-rate jitter (fraction)
    n_paired: int = 0  # keep only this many paired (audio, text) training utterances; 0 = all (the scarcity sweep)
    text_corpus: str = "sentences"  # P2G text: "sentences" (the sentence source minus valid/test sentences), "train" (paired transcripts only) or a one-sentence-per-line file
    n_text: int = 0  # cap on P2G training sentences (seeded choice); 0 = all
    n_valid: int = 0  # cap on validation utterances / sentences per stage; 0 = all
    num_proc: int = 2  # processes for corpus synthesis
    data_seed: int = 0  # corpus sentences, speakers, splits
    sample_rate: int = 16000  # Hz the recognisers take (every input is resampled to it)
    n_mels: int = 80  # log-mel bands
    # -- extract: G2P ---------------------------------------------------------------------------
    stress: bool = False  # keep ARPAbet stress digits on vowels (69 phonemes) or drop them (39)
    word_sep: bool = True  # put "|" between words in Y'
    g2p_neural: bool = True  # neural G2P for words outside CMUdict; false = OOV words are an error
    g2p_words: int = 0  # CMUdict words to train the neural G2P on (0 = all but the held-out 4%)
    g2p_d_model: int = 128  # neural G2P width
    g2p_layers: int = 2  # neural G2P encoder and decoder layers
    g2p_heads: int = 4  # neural G2P attention heads
    g2p_dropout: float = 0.1  # neural G2P dropout
    g2p_label_smoothing: float = 0.1  # neural G2P training: cross-entropy label smoothing
    g2p_beam: int = 4  # neural G2P decoding: beam width (batched, deterministic); 1 = greedy
    # -- generate and direct: the CTC encoder (same size on both sides) --------------------------
    d_model: int = 144  # transformer width
    layers: int = 4  # transformer layers
    heads: int = 4  # attention heads
    conv_channels: int = 64  # subsampling convolution channels
    subsample: int = 4  # time subsampling: 2 or 4
    dropout: float = 0.1  # dropout
    spec_augment: bool = True  # time/frequency masking while training
    ctc_beam: int = 8  # CTC prefix beam width; 1 = greedy
    max_window_s: float = 20.0  # audio longer than this is decoded in windows cut at pauses
    # -- regenerate: P2G ------------------------------------------------------------------------
    p2g_mode: str = "lexicon"  # "lexicon": inverted extractor lexicon + word LM, neural fallback; "seq2seq": the neural P2G alone
    p2g_lm_order: int = 3  # lexicon mode: word n-gram order (Kneser-Ney, counted on the P2G text)
    p2g_lm_weight: float = 1.0  # lexicon mode: weight of the LM log-probability
    p2g_edit_cost: float = 1.5  # lexicon mode: nats per phoneme edit when a span only nearly matches a word
    p2g_max_edit_ratio: float = 0.5  # lexicon mode: most phoneme edits per phoneme of an approximate match (at least 1)
    p2g_max_near: int = 8  # lexicon mode: approximate matches kept per unmatched span
    p2g_boundary_cost: float = 4.0  # lexicon mode: nats for a word crossing a "|" or ending where there is none
    p2g_fallback_cost: float = 2.0  # lexicon mode: nats for a span spelled by the neural fallback
    p2g_lex_beam: int = 8  # lexicon mode: hypotheses kept per phoneme position
    p2g_open_vocab: bool = True  # lexicon mode: CMUdict words outside the text are candidates too
    p2g_d_model: int = 192  # P2G transformer width
    p2g_layers: int = 3  # P2G encoder and decoder layers
    p2g_heads: int = 4  # P2G attention heads
    p2g_dropout: float = 0.1  # P2G dropout
    p2g_beam: int = 4  # P2G beam width; 1 = greedy
    p2g_n_best: int = 4  # hypotheses rescored (<= p2g_beam)
    p2g_rescore: float = 0.0  # weight of the G2P round-trip rescoring of the n-best list; 0 = off
    p2g_chunk_words: int = 24  # P2G decodes longer inputs in chunks of this many words
    p2g_noise: float = 0.0  # P2G training: probability of replacing an input phoneme by a random one (robustness to recognition errors)

    def __post_init__(self) -> None:
        for key in ("sample_rate", "n_mels"):
            if getattr(self, key) <= 0:
                raise ValueError(f"pairing.{key} must be positive, got {getattr(self, key)}")

    def g2p(self) -> G2PSettings:
        return G2PSettings(stress=self.stress, word_sep=self.word_sep, neural=self.g2p_neural,
                           d_model=self.g2p_d_model, n_heads=self.g2p_heads, layers=self.g2p_layers,
                           dropout=self.g2p_dropout, label_smoothing=self.g2p_label_smoothing, beam=self.g2p_beam)

    def features(self) -> FeatureSettings:
        return FeatureSettings(sample_rate=self.sample_rate, n_mels=self.n_mels)

    def encoder(self) -> EncoderSettings:
        return EncoderSettings(d_model=self.d_model, n_heads=self.heads, layers=self.layers,
                               conv_channels=self.conv_channels, subsample=self.subsample, dropout=self.dropout,
                               spec_augment=self.spec_augment, beam=self.ctc_beam, max_window_s=self.max_window_s)

    def p2g(self) -> P2GSettings:
        return P2GSettings(d_model=self.p2g_d_model, n_heads=self.p2g_heads, enc_layers=self.p2g_layers,
                           dec_layers=self.p2g_layers, dropout=self.p2g_dropout, beam=self.p2g_beam,
                           n_best=self.p2g_n_best, rescore_weight=self.p2g_rescore, chunk_words=self.p2g_chunk_words,
                           noise=self.p2g_noise, mode=self.p2g_mode, lm_order=self.p2g_lm_order,
                           lexicon=LexDecodeSettings(lm_weight=self.p2g_lm_weight, edit_cost=self.p2g_edit_cost,
                                                     max_edit_ratio=self.p2g_max_edit_ratio, max_near=self.p2g_max_near, boundary_cost=self.p2g_boundary_cost,
                                                     fallback_cost=self.p2g_fallback_cost, beam=self.p2g_lex_beam,
                                                     open_vocab=self.p2g_open_vocab))
