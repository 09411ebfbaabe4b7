"""The shared contract suite for the three image pairings (toy preset)."""

import pytest
from regen_core.testing import PairingContractTests


class TestImageContract(PairingContractTests):
    pairing_name = "image"
    preset = "toy"


class TestImageVQContract(PairingContractTests):
    pairing_name = "image-vq"
    preset = "toy"


class TestImageDownContract(PairingContractTests):
    pairing_name = "image-down"
    preset = "toy"


@pytest.mark.parametrize("key, value", [("train_timesteps", 500), ("down_factor", 2)])
def test_fine_tune_refuses_changed_noise_levels_or_factor(key: str, value: int) -> None:
    """``regen train --init``: the low-resolution denoiser's noise levels and down-sampling factor keep its
    parameter shapes but not its meaning (without ``init_keeps`` the change would pass); data settings may change."""
    from regen_core.config import to_dict
    from regen_core.pipeline import PipelineError, init_settings_check

    from regen_image.config import ImageDownConfig
    from regen_image.pairing import ImageDownPairing

    model = to_dict(ImageDownConfig())
    init_settings_check(ImageDownPairing, model, {**model, "n_train": 100, "source": "digits"}, "generate",
                        ImageDownPairing.init_keeps)
    init_settings_check(ImageDownPairing, model, {**model, key: value}, "generate", ())  # the shapes alone: same
    with pytest.raises(PipelineError, match=rf"pairing.{key}: model {model[key]}, this run {value}"):
        init_settings_check(ImageDownPairing, model, {**model, key: value}, "generate", ImageDownPairing.init_keeps)
