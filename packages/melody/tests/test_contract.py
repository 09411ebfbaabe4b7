"""The shared contract suite (regen_core.testing) on the melody pairing's toy preset."""

from regen_core.testing import PairingContractTests


class TestMelodyContract(PairingContractTests):
    pairing_name = "melody"
    preset = "toy"
