"""The shared contract suite on the toy preset."""

from regen_core.testing import PairingContractTests


class TestASRContract(PairingContractTests):
    pairing_name = "asr"
    preset = "toy"
