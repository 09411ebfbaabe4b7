"""The image pairings' settings: one frozen dataclass, a comment on every field."""

from __future__ import annotations

from dataclasses import dataclass

Y_PRIMES = ("kl", "vq", "down")
SOURCES = ("auto", "mnist5k", "digits", "folder")
AE_LOSSES = ("l1", "mse")
ALPHA_CHOICES = ("refuse", "black", "white")


@dataclass(frozen=True)
class ImageConfig:
    """Everything the image pairing needs: data, the three Y' choices, model sizes, metrics."""

    # -- data --
    source: str = "auto"  # "auto" (MNIST 5k from ../shared/data, else scikit-learn digits), "mnist5k", "digits", "folder"
    data_path: str = ""  # image folder (source=folder) or mnist5k.npz / its folder; "" = the default location
    image_size: int = 32  # images are square, image_size x image_size (MNIST 28 is padded, others resized)
    channels: int = 1  # 1 = grey, 3 = RGB; other channel counts are converted when unambiguous
    num_classes: int = 10  # classes 0..num_classes-1 (X); a label outside this range is an error
    n_train: int = 0  # cap on training images (0 = every image not in valid/test)
    n_valid: int = 250  # validation images (stratified by class)
    n_test: int = 250  # test images (stratified by class)
    split_seed: int = 0  # seed of the deterministic stratified split
    alpha: str = "refuse"  # image-folder files with transparency: "refuse" (an error naming the file), or composite on "black" / "white" (a notice says how many)
    # -- Y' --
    y_prime: str = "kl"  # "kl" (KL-autoencoder latents), "vq" (VQ-autoencoder tokens), "down" (explicit down-sampling)
    ae_channels: tuple[int, ...] = (32, 64, 64)  # autoencoder widths; len-1 = number of 2x down-samplings (32 -> 8)
    latent_channels: int = 4  # channels of the KL latent / of a VQ code vector
    kl_weight: float = 1e-3  # weight of the per-element KL term of the KL autoencoder
    ae_loss: str = "l1"  # autoencoders' reconstruction loss: "l1" or "mse" (mse escapes the all-black plateau of sparse digits within ~50 steps; l1 needs a few hundred)
    vq_codes: int = 64  # VQ codebook size
    vq_restart_every: int = 20  # re-seed unused VQ codes from encoder outputs every N training steps (0 = never)
    down_factor: int = 4  # explicit down-sampling factor (32 -> 8)
    # -- generators (X -> Y') and the direct baseline (X -> Y) --
    unet_channels: tuple[int, ...] = (32, 64, 64)  # UNet widths, the same for latent, low-res and pixel diffusion
    unet_layers: int = 1  # ResNet layers per UNet block
    train_timesteps: int = 1000  # DDPM noise levels in training
    sample_steps: int = 25  # DDIM steps when sampling (the same for every diffusion model)
    guidance: float = 3.0  # classifier-free guidance scale (1 = no guidance)
    cond_drop: float = 0.1  # probability of dropping the class in training (enables guidance)
    prior_dim: int = 128  # width of the masked-token transformer (VQ prior)
    prior_layers: int = 4  # transformer layers of the VQ prior
    prior_heads: int = 4  # attention heads of the VQ prior
    prior_steps: int = 8  # MaskGIT decoding iterations
    # -- regenerator (Y' -> Y) for down-sampling --
    sr_channels: int = 32  # width of the super-resolution network
    sr_blocks: int = 2  # residual blocks per resolution in the super-resolution network
    # -- metrics --
    classifier_steps: int = 400  # training steps of the evaluation classifier (trained in-project, cached)
    classifier_width: int = 32  # width of the evaluation classifier
    feature_dim: int = 64  # classifier feature size used for FID and precision/recall
    knn_k: int = 3  # k of the k-NN precision/recall manifolds

    def __post_init__(self) -> None:
        if self.y_prime not in ("kl", "vq", "down"):
            raise ValueError(f"pairing.y_prime must be 'kl', 'vq' or 'down', got {self.y_prime!r}")


@dataclass(frozen=True)
class ImageVQConfig(ImageConfig):
    """ImageConfig with VQ tokens as Y' (registered as ``image-vq``)."""

    y_prime: str = "vq"  # see ImageConfig.y_prime


@dataclass(frozen=True)
class ImageDownConfig(ImageConfig):
    """ImageConfig with an explicitly down-sampled image as Y' (registered as ``image-down``)."""

    y_prime: str = "down"  # see ImageConfig.y_prime
