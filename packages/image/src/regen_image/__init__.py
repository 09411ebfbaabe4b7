"""regen-image: class -> Y' (KL latents, VQ tokens or a down-sampled image) -> image.

Registered pairings (``regen list``): ``image`` (KL-autoencoder latents + latent diffusion),
``image-vq`` (VQ tokens + a masked-token prior) and ``image-down`` (an 8x8 down-sampled image +
low-resolution diffusion + a super-resolution network). Each ships the direct baseline:
class-conditional diffusion in pixel space with a UNet of the same width class.
"""

__version__ = "0.1.0"
