"""The shared contract suite for both TTS pairings, at toy size."""

from regen_core.testing import PairingContractTests


class TestTTSContract(PairingContractTests):
    pairing_name = "tts"
    preset = "toy"


class TestTTSCodecContract(PairingContractTests):
    pairing_name = "tts-codec"
    preset = "toy"
