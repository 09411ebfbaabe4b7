"""Models: shapes of outputs, seeds, given tonality/chords/metre, outputs as MIDI / MusicXML / PNG."""

import torch

from regen_melody.direct import LyricsToMelody
from regen_melody.theory import MODES, chord_name
from regen_melody.generate import LyricsToTemplate, parse_chord, parse_key
from regen_melody.modules import NetConfig
from regen_melody.regenerate import TemplateToMelody, melody_tokens, tokens_to_melody
from regen_melody.render import piano_roll, write

NET = NetConfig(d_model=16, n_layers=1, n_heads=2, dropout=0.0)
LYRICS = "Twinkle, twinkle, little star. How I wonder what you are!"


def test_token_round_trip():
    y = {"pitch": [67, 69, 71, 62], "onset": [3.0, 4.0, 5.5, 8.0], "duration": [1.0, 1.5, 0.5, 4.0], "meter": "4/4"}
    toks = melody_tokens(y, transpose=5)
    back = tokens_to_melody(toks, "4/4", 5)
    assert back["pitch"] == y["pitch"] and back["onset"] == y["onset"] and back["duration"] == y["duration"]


def test_generator_honours_given_key_metre_and_chords():
    torch.manual_seed(0)
    g = LyricsToTemplate(NET).eval()
    t = g.sample({"lyrics": LYRICS, "key": "G", "mode": "major", "meter": "3/4", "chords": ["G", "C", "D"]}, seed=3)
    assert t["meter"] == "3/4" and t["mode"] == 0 and t["transpose"] == 5
    assert len(t["beat"]) == len(t["syllables"]) == 14 and max(t["beat"]) <= 2
    assert {chord_name(c) for c in t["chord"]} <= {"C", "F", "G"}  # G C D moved to C major
    assert t["cadence"][-1] == 2 and t["cadence"][1] == 1
    assert parse_key("e minor") == (4, True) and parse_key("Bbm") == (10, True)
    assert chord_name(parse_chord("F#dim")) == "F#dim" and chord_name(parse_chord("G7")) == "G"


def test_regenerator_gives_one_valid_note_per_template_entry():
    torch.manual_seed(0)
    g, r = LyricsToTemplate(NET).eval(), TemplateToMelody(NET).eval()
    t = g.sample({"lyrics": LYRICS, "key": "D"}, seed=1)
    y = r.sample(t, seed=2)
    assert len(y["pitch"]) == len(t["beat"]) and y["syllables"] == t["syllables"]
    assert all(b > a for a, b in zip(y["onset"], y["onset"][1:]))
    assert all(d > 0 for d in y["duration"])
    assert r.sample(t, seed=2) == y and r.sample(t, seed=3) != y
    assert r.sample(t, seed=2, temperature=0) == r.sample(t, seed=9, temperature=0)


def test_direct_and_outputs(tmp_path):
    torch.manual_seed(0)
    d = LyricsToMelody(NET).eval()
    y = d.sample(LYRICS, seed=0)
    assert len(y["pitch"]) == 14 and y["meter"]
    mid = write(y, tmp_path / "song.mid")
    xml = write(y, tmp_path / "song.musicxml")
    png = piano_roll(tmp_path / "roll.png", {"direct": y})
    assert mid.stat().st_size > 50 and png.stat().st_size > 1000
    text = xml.read_text()
    assert "<lyric" in text and "Twin" in text and "<syllabic>begin</syllabic>" in text
    from regen_melody.data import parse_file

    back = parse_file(xml)
    assert back["pitch"] == y["pitch"] and back["syllables"][0] == "Twin-"
    assert MODES == ("major", "minor")


def test_template_constrained_decoding_follows_the_template():
    from regen_melody.extract import extract_template
    from regen_melody.metrics import chord_accuracy, rhythm_accuracy
    from regen_melody.regenerate import UNCONSTRAINED, TemplateDecoding

    torch.manual_seed(0)
    r = TemplateToMelody(NET).eval()  # untrained: only the decoding constraints can make it follow
    y = {"pitch": [60, 62, 64, 65, 67, 65, 64, 62, 60, 67, 72, 71, 72], "meter": "3/4",
         "onset": [0, 1, 1.5, 2, 3, 4.5, 5, 6, 7, 8, 9, 10, 12], "duration": [1, .5, .5, 1, 1.5, .5, 1, 1, 1, 1, 1, 2, 3]}
    t = extract_template(y)
    free = [r.sample(t, seed=s, decoding=UNCONSTRAINED) for s in range(4)]
    every = [r.sample(t, seed=s, decoding=TemplateDecoding(chord="all", chord_bias=0.0, rhythm=True)) for s in range(4)]
    assert all(chord_accuracy(m, t) == 1.0 and rhythm_accuracy(m, t) == 1.0 for m in every)
    assert sum(chord_accuracy(m, t) for m in free) / 4 < 0.9  # a random net alone does not follow it
    strong = r.sample(t, seed=0, decoding=TemplateDecoding(chord="strong", chord_bias=0.0, rhythm=True))
    from regen_melody.theory import beat_of, chord_pitch_classes

    for p, o, d, c in zip(strong["pitch"], strong["onset"], strong["duration"], t["chord"]):
        on_beat = abs(o - round(o)) < 1e-6  # 3/4: beats are quarters
        if on_beat:
            assert (p + t["transpose"]) % 12 in chord_pitch_classes(c)
    assert [beat_of(o, "3/4") for o in strong["onset"]] == t["beat"]
    import pytest

    with pytest.raises(ValueError, match="chord constraint"):
        TemplateDecoding(chord="sometimes")



def test_generator_register_and_key_choice():
    import pytest

    from regen_melody.theory import shift_to_c
    from regen_melody.generate import PRIOR_SCALE
    from regen_melody.regenerate import REGISTER_LO

    torch.manual_seed(0)
    g = LyricsToTemplate(NET).eval()
    with torch.no_grad():  # priors as if learned: sounding mean 70, ambitus 12, tonic G (major) / E (minor)
        g.register_logits.zero_()[70 - REGISTER_LO] = 10 / PRIOR_SCALE
        g.ambitus_logits.zero_()[12] = 10 / PRIOR_SCALE
        g.tonic_logits.zero_()[0, 7] = 10 / PRIOR_SCALE
        g.tonic_logits[1, 4] = 10 / PRIOR_SCALE
    t = g.sample({"lyrics": LYRICS, "key": "G"}, seed=0)
    assert t["transpose"] == 5 and t["register"] == 75 and t["ambitus"] == 12  # sounding 70, moved into C
    assert g.sample(LYRICS, seed=0)["transpose"] == 0  # key_choice "c": C major / A minor
    g.key_choice = "likeliest"
    for seed in range(4):
        t = g.sample(LYRICS, seed=seed)
        assert t["transpose"] == shift_to_c(4 if t["mode"] else 7, bool(t["mode"])) and t["register"] - t["transpose"] == 70
    assert g.sample({"lyrics": LYRICS, "chords": ["C", "G"]}, seed=0)["transpose"] == 0  # given chords are in C / Am
    with pytest.raises(ValueError, match="key_choice"):
        LyricsToTemplate(NET, key_choice="random")


def test_regenerator_is_conditioned_on_the_register_only_when_asked():
    from regen_melody.regenerate import register_tokens

    torch.manual_seed(0)
    g = LyricsToTemplate(NET).eval()
    t = g.sample(LYRICS, seed=1)
    low, high = dict(t, register=60, ambitus=5), dict(t, register=84, ambitus=24)
    def notes(model, template):
        y = model.sample(template, seed=2)
        return y["pitch"], y["onset"], y["duration"]

    r = TemplateToMelody(NET).eval()
    assert notes(r, low) != notes(r, high)
    torch.manual_seed(0)
    blind = TemplateToMelody(NET, register=False).eval()
    assert notes(blind, low) == notes(blind, high) == notes(blind, {**t, "register": None})
    assert register_tokens({"register": 10, "ambitus": 99}) == [0, 36]  # clipped into the vocabulary


def test_near_chord_pick_keeps_the_model_s_register():
    import pytest

    from regen_melody.regenerate import TemplateDecoding, near_tones

    row = torch.full((24,), -5.0)
    row[[3, 10, 11]] = torch.tensor([5.0, 4.0, 3.0])  # the model's top 3: tokens 3, 10, 11
    tone = torch.zeros(24, dtype=torch.bool)
    tone[[0, 4, 11, 16, 23]] = True  # chord tones
    assert torch.nonzero(near_tones(row, tone, 3)).flatten().tolist() == [11]  # a chord tone among the top k
    assert torch.nonzero(near_tones(row, tone, 2)).flatten().tolist() == [4]  # none in the top 2: nearest to token 3
    assert torch.nonzero(near_tones(row, tone, 0)).flatten().tolist() == [4]
    with pytest.raises(ValueError, match="chord_pick"):
        TemplateDecoding(chord_pick="far")



def test_direct_baseline_reads_an_optional_key_token():
    import pytest

    from regen_melody.errors import MelodyInputError
    from regen_melody.direct import KEY_UNKNOWN, key_index
    from regen_melody.theory import key_name, melody_key
    from regen_melody.regenerate import collate_aligned

    y = {"pitch": [67, 69, 71, 67, 62, 67], "onset": [0.0, 1.0, 2.0, 3.0, 4.0, 6.0], "duration": [1.0, 1.0, 1.0, 1.0, 2.0, 2.0],
         "meter": "4/4", "syllables": ["Lob", "sei", "dem", "Herrn", "und", "Gott."], "key_hint": 7 + 12}
    assert melody_key(y) == (7, True) and key_name(7, True) == "G minor" and parse_key(key_name(10, False)) == (10, False)
    assert melody_key({**y, "key_hint": -1}) == melody_key({**y, "key_hint": None})  # key analysis without a hint
    ex = LyricsToMelody.example(y, "de", 48)
    assert ex and all(e["glob"][1] == key_index(7, True) == 19 for e in ex)
    torch.manual_seed(0)
    d = LyricsToMelody(NET, key_dropout=1.0)
    batch = collate_aligned(ex)
    unknown = {**batch, "glob": batch["glob"].clone()}
    unknown["glob"][:, 1] = KEY_UNKNOWN
    d.train()
    dropped = float(d(batch)[0].detach())
    d.eval()  # no key dropout at eval: the key is read
    assert dropped == pytest.approx(float(d(unknown)[0].detach())) and float(d(batch)[0].detach()) != pytest.approx(dropped)
    plain = d.sample(LYRICS, seed=0)
    keyed = d.sample({"lyrics": LYRICS, "key": "F# minor"}, seed=0)
    assert keyed["pitch"] != plain["pitch"] and len(keyed["pitch"]) == len(plain["pitch"])
    assert d.sample({"lyrics": LYRICS, "key": ""}, seed=0) == plain  # an empty key is no key
    with pytest.raises(MelodyInputError, match="unknown root"):
        d.sample({"lyrics": LYRICS, "key": "H major"}, seed=0)
    with pytest.raises(ValueError, match="key_dropout"):
        LyricsToMelody(NET, key_dropout=1.5)


def test_register_choice_median_takes_the_priors_median():
    import pytest

    from regen_melody.generate import prior_median
    from regen_melody.config import MelodyConfig
    from regen_melody.regenerate import REGISTER_LO

    assert prior_median(torch.log(torch.tensor([0.1, 0.3, 0.2, 0.4]))) == 2  # cdf 0.1, 0.4, 0.6, 1.0
    assert prior_median(torch.log(torch.tensor([0.6, 0.2, 0.2]))) == 0
    torch.manual_seed(0)
    g = LyricsToTemplate(NET, register_choice="median").eval()
    with torch.no_grad():
        g.register_logits.copy_(torch.linspace(-0.2, 0.2, len(g.register_logits)))
    want = REGISTER_LO + prior_median(25.0 * g.register_logits)
    for seed in range(4):
        t = g.sample({"lyrics": LYRICS, "key": "A minor"}, seed=seed)
        assert t["register"] - t["transpose"] == want  # the sounding mean, whatever the seed
    with torch.no_grad():  # the key's own prior: A minor (9 + 12) peaks at the lowest mean pitch
        g.register_key_logits[21, 0] = 1.0
    assert g.sample({"lyrics": LYRICS, "key": "A minor"}, seed=0)["register"] == REGISTER_LO  # A minor: transpose 0
    assert g.sample({"lyrics": LYRICS, "key": "C major"}, seed=0)["register"] == want  # C major keeps the marginal
    g.register_by_key = False
    assert g.sample({"lyrics": LYRICS, "key": "A minor"}, seed=0)["register"] == want
    g.register_choice = "sample"
    drawn = {g.sample({"lyrics": LYRICS, "key": "A minor"}, seed=s)["register"] for s in range(8)}
    assert len(drawn) > 1
    with pytest.raises(ValueError, match="register_choice"):
        MelodyConfig(register_choice="lowest")
