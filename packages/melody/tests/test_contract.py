"""The shared contract suite (regen_core.testing) on the melody pairing's toy preset."""

import pytest
from regen_core.testing import PairingContractTests


class TestMelodyContract(PairingContractTests):
    pairing_name = "melody"
    preset = "toy"


def test_fine_tune_refuses_a_changed_register_condition() -> None:
    """``regen train --init``: the regenerator's register condition keeps its shapes but not its meaning."""
    from regen_core.config import to_dict
    from regen_core.pipeline import PipelineError, init_settings_check

    from regen_melody.config import MelodyConfig
    from regen_melody.pairing import MelodyPairing

    model = to_dict(MelodyConfig())
    init_settings_check(MelodyPairing, model, {**model, "n_folk": 10, "top_k": 4}, "regenerate",
                        MelodyPairing.init_keeps)  # data and sampling settings may change
    init_settings_check(MelodyPairing, model, {**model, "template_register": False}, "regenerate", ())  # same shapes
    with pytest.raises(PipelineError, match=r"pairing.template_register: model True, this run False"):
        init_settings_check(MelodyPairing, model, {**model, "template_register": False}, "regenerate",
                            MelodyPairing.init_keeps)
