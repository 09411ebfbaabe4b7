"""The shared contract suite for the talking-head pairing, at toy size."""

from regen_core.testing import PairingContractTests


class TestTalkingHeadContract(PairingContractTests):
    pairing_name = "talkinghead"
    preset = "toy"
