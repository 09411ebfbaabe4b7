"""``python -m regen_tts.zoo --out DIR [--install]``: build the models this package ships (:mod:`regen_core.zoo`)."""

from regen_core.zoo import domain_main

PAIRINGS = ("tts", "tts-codec")  # the pairings whose models this package ships
main = domain_main(PAIRINGS, "python -m regen_tts.zoo")

if __name__ == "__main__":
    raise SystemExit(main())
