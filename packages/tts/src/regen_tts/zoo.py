"""``python -m regen_tts.zoo --out DIR [--install]``: build the models this package ships (:mod:`regen_core.zoo`)."""

from regen_core.zoo import domain_main

PAIRINGS = ("tts", "tts-codec")  # the pairings whose models this package ships, built in this order
# tts-codec's direct baseline is tts's (the same text -> waveform model, data and budget): trained once, copied
SHARED = {"tts-codec": {"direct": "tts"}}
main = domain_main(PAIRINGS, "python -m regen_tts.zoo", shared=SHARED)

if __name__ == "__main__":
    raise SystemExit(main())
