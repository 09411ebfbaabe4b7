"""The frozen config of the ``tts`` and ``tts-codec`` pairings (saved in every model folder)."""

from __future__ import annotations

from dataclasses import dataclass

from .text import ESPEAK_EN_PHONEMES


@dataclass(frozen=True)
class TTSConfig:
    """Every setting of the TTS pairings: data, signal processing, front-end, model sizes."""

    # -- data --------------------------------------------------------------------------------------
    source: str = "corpus"  # "corpus" (espeak corpus, with timings), "ljspeech" (a folder), "fsdd", or "audio" (vocoder only)
    corpus_dir: str = ""  # built corpus folder; "" = build it (once) into $REGEN_CACHE/tts-corpus/<key>
    corpus_n: int = 600  # utterances of the auto-built corpus
    corpus_speakers: tuple[str, ...] = ("en-us+m3", "en-gb+f2", "en-gb-scotland+m1", "en-029+f4")  # voices
    corpus_seed: int = 0  # seed of the auto-built corpus (sentences, speaker assignment)
    corpus_max_words: int = 12  # longest sentence (words) of the auto-built corpus
    corpus_sentences: str = "wordnet"  # "wordnet", "kjv" or a text file with one sentence per line
    ljspeech_dir: str = ""  # LJSpeech-format folder (metadata.csv + wavs/) when source = "ljspeech"
    audio_dir: str = ""  # any folder of audio files (searched recursively) when source = "audio": extract / regenerate only
    fsdd_dir: str = ""  # FSDD folder when source = "fsdd"; "" = ../shared/data/fsdd (or $REGEN_SHARED_DATA/fsdd)
    max_utterances: int = 0  # keep only the first N utterances of the source (0 = all)
    valid_fraction: float = 0.05  # share of utterances in the valid split (corpus / ljspeech)
    test_fraction: float = 0.05  # share of utterances in the test split (corpus / ljspeech; FSDD uses takes 0-4)
    split_seed: int = 0  # seed of the split
    num_proc: int = 1  # processes for corpus building and feature extraction
    # -- signal ------------------------------------------------------------------------------------
    sample_rate: int = 16000  # Hz of Y; sources at another rate are resampled (soxr), never silently
    n_fft: int = 1024  # STFT size of the log-mel
    hop: int = 256  # STFT hop (samples per Y' frame)
    win: int = 1024  # STFT window length
    n_mels: int = 80  # mel bands
    fmin: float = 0.0  # lowest mel frequency (Hz)
    fmax: float = 0.0  # highest mel frequency (Hz); 0 = sample_rate / 2
    # -- text front-end ----------------------------------------------------------------------------
    phonemes: tuple[str, ...] = ESPEAK_EN_PHONEMES  # fixed phoneme vocabulary (id 0 = padding, i+1 = phonemes[i])
    g2p: str = "espeak"  # "espeak" (matches corpus timings) or "cmudict" (CMUdict, espeak for other words)
    accent: str = "en-us"  # espeak accent to phonemize with when the speaker's name carries none
    durations: str = "auto"  # "timings" (corpus phoneme times), "aligner" (learned) or "auto" (timings if present)
    max_chars: int = 200  # longer sentences are split at clause marks and spoken in turn
    unknown_chars: str = "error"  # "error" (TextError naming them) or "drop"
    # -- acoustic model (FastSpeech 2 style; shared by the generator and the direct baseline) --------
    d_model: int = 128  # hidden size of encoder and decoder
    n_heads: int = 2  # attention heads
    enc_layers: int = 3  # FFT blocks of the phoneme encoder
    dec_layers: int = 3  # FFT blocks of the frame decoder
    ff_dim: int = 256  # width of the convolutional feed-forward in FFT blocks
    ff_kernel: int = 3  # kernel of that feed-forward
    predictor_dim: int = 128  # width of duration / pitch / energy predictors
    dropout: float = 0.1  # dropout in encoder, decoder and predictors
    aligner_dim: int = 64  # width of the internal aligner (durations = "aligner")
    noise_scale: float = 0.5  # sampling: std multiplier of duration / pitch / energy noise (times temperature)
    # -- regenerator (vocoder) and direct waveform decoder ---------------------------------------------
    vocoder: str = "vocos"  # "vocos" (iSTFT-head ConvNeXt vocoder, trained on audio alone) or "griffinlim"
    voc_dim: int = 128  # ConvNeXt width of the vocoder and of the direct model's waveform decoder
    voc_layers: int = 4  # ConvNeXt blocks
    voc_kernel: int = 7  # depthwise kernel of the ConvNeXt blocks
    voc_mag_prior: bool = True  # vocoder head predicts a correction of the mel's pseudo-inverse magnitude
    voc_spec_weight: float = 1.0  # vocoder: weight of the log-spectral loss on the head's predicted magnitude
    voc_lsd_weight: float = 1.0  # vocoder and direct decoder: weight of the log-spectral loss on the output wave
    segment: int = 8192  # training crop length in samples (vocoder and direct)
    gl_iters: int = 32  # Griffin-Lim iterations
    # -- codec Y' (tts-codec) -------------------------------------------------------------------------
    codec_model: str = "tiny-random"  # EnCodec: local folder or hub id (e.g. facebook/encodec_24khz), or "tiny-random"
    codec_bandwidth: float = 3.0  # kbps, set explicitly (transformers' default is the lowest)
    codec_seed: int = 0  # init seed of the "tiny-random" codec

    def __post_init__(self) -> None:
        if self.vocoder not in ("vocos", "griffinlim"):
            raise ValueError(f"pairing.vocoder must be 'vocos' or 'griffinlim', got {self.vocoder!r}")

    @property
    def mel_fmax(self) -> float:
        return self.fmax if self.fmax > 0 else self.sample_rate / 2
