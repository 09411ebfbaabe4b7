"""The shared contract suite for the three image pairings (toy preset)."""

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
