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
    codec_model: str = "learned"  # "learned" (EnCodec trained here as the extract stage) or a local pretrained EncodecModel folder
    codec_bandwidth: float = 0.0  # kbps: one of the codec's target bandwidths (picks the codebooks); 0 = its highest
    codec_codebooks: int = 4  # learned codec: residual VQ codebooks (n_q)
    codec_codebook_size: int = 256  # learned codec: entries per codebook (a power of 2)
    codec_dim: int = 64  # learned codec: latent / codebook dimension
    codec_filters: int = 8  # learned codec: channels of the first conv (doubled at each down-sampling)
    codec_ratios: tuple[int, ...] = (8, 5, 4, 2)  # learned codec: decoder up-sampling ratios; code hop = their product
    codec_residual_layers: int = 1  # learned codec: residual blocks per resolution
    codec_lstm_layers: int = 1  # learned codec: LSTM layers at the latent rate (encoder and decoder)
    codec_l1_weight: float = 0.1  # learned codec: weight of the waveform L1 beside the spectral losses
    codec_commit_weight: float = 1.0  # learned codec: weight of the VQ commitment loss
    codec_ema_decay: float = 0.95  # learned codec: decay of the codebooks' moving averages (EnCodec: 0.99 over far longer training)
    codec_dead_threshold: float = 0.5  # learned codec: a code whose average use per batch falls below is re-seeded
    codec_seed: int = 0  # learned codec: seed of the codebooks' k-means initialisation
    codec_vq_warmup: int = 200  # learned codec: first training steps without quantisation (a plain autoencoder)
    codec_fsdd: str = "auto"  # learned codec: add FSDD train/valid takes to its audio: "auto" (when found; said), "required", "skip"
    codec_fsdd_share: float = 0.25  # learned codec: at most this share of its training rows from FSDD (8 kHz, empty above 4 kHz)

    def __post_init__(self) -> None:
        if self.vocoder not in ("vocos", "griffinlim"):
            raise ValueError(f"pairing.vocoder must be 'vocos' or 'griffinlim', got {self.vocoder!r}")
        if self.codec_fsdd not in ("auto", "required", "skip"):
            raise ValueError(f"pairing.codec_fsdd must be 'auto', 'required' or 'skip', got {self.codec_fsdd!r}")
        size = self.codec_codebook_size
        if size < 2 or size & (size - 1):
            raise ValueError(f"pairing.codec_codebook_size must be a power of 2 >= 2, got {size}")
        if self.codec_codebooks < 1 or not self.codec_ratios or min(self.codec_ratios) < 1:
            raise ValueError(f"pairing.codec_codebooks must be >= 1 and codec_ratios positive, got "
                             f"{self.codec_codebooks} and {self.codec_ratios}")

    @property
    def mel_fmax(self) -> float:
        return self.fmax if self.fmax > 0 else self.sample_rate / 2
