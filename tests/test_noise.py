import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from training.data import Clips
from training.general import music
from training.noise import (
    DRUM_PACKAGE,
    PACKAGES,
    build_bank,
    category,
    copyright_stanzas,
    drop_reason,
    drum_hits,
    file_licence,
    names_a_keyword,
    split_by_file,
    trim,
)
from training.sources_train import check_not_reserved

RATE = 16000


def _tone(seconds, rate, freq=440.0, amp=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _files(tmp_path):
    """Four small files of two fake packages: stereo 44.1 kHz ogg, mono flac, silent wav."""
    left, right = _tone(0.5, 44100), _tone(0.5, 44100, freq=660.0)
    sf.write(tmp_path / "stereo.ogg", np.stack([left, right], axis=1), 44100)
    sf.write(tmp_path / "tone.flac", _tone(0.3, 16000), 16000)
    sf.write(tmp_path / "hiss.wav", _tone(1.0, 16000, freq=3000.0), 16000)
    sf.write(tmp_path / "silent.wav", np.zeros(8000, np.float32), 16000)
    return [("pkg-a", str(tmp_path / "stereo.ogg")), ("pkg-a", str(tmp_path / "silent.wav")),
            ("pkg-b", str(tmp_path / "tone.flac")), ("pkg-b", str(tmp_path / "hiss.wav"))]


def test_build_bank(tmp_path):
    bank, dropped = build_bank(_files(tmp_path), test_fraction=0.5)
    assert dropped == {"silent": 1, "short": 0, "keyword": 0, "unreadable": 0}
    assert len(bank) == 3
    assert set(bank.labels) == {-1}
    assert list(bank.source) == ["pkg-a/other", "pkg-b/other", "pkg-b/other"]
    assert not any("silent" in v for v in bank.voice)
    # 0.5 s at 44.1 kHz -> 8000 samples at 16 kHz (give or take trimming of the zero crossing)
    i = int(np.flatnonzero(np.char.endswith(bank.voice.astype(str), "stereo.ogg"))[0])
    assert abs(int(bank.lengths[i]) - 8000) <= 16
    # the downmix averages both channels: not a pure 440 Hz tone any more
    spectrum = np.abs(np.fft.rfft(bank.clip(i)))
    freqs = np.fft.rfftfreq(int(bank.lengths[i]), 1 / RATE)
    top2 = sorted(freqs[np.argsort(spectrum)[-2:]])
    assert abs(top2[0] - 440) < 10 and abs(top2[1] - 660) < 10
    # peak-normalised
    assert all(0.85 < np.abs(bank.clip(k)).max() < 0.95 for k in range(len(bank)))


def test_cap_and_round_trip(tmp_path):
    bank, _ = build_bank(_files(tmp_path), max_seconds=0.25)
    assert bank.lengths.max() == 4000
    bank.save(tmp_path / "bank")
    loaded = Clips.load(tmp_path / "bank")
    np.testing.assert_array_equal(loaded.audio, bank.audio)
    np.testing.assert_array_equal(loaded.voice, bank.voice)


def test_split_by_file_deterministic():
    packages = ["a"] * 10 + ["b"] * 5
    first = split_by_file(packages, 0.2, seed=0)
    assert first == split_by_file(packages, 0.2, seed=0)
    assert first[:10].count("test") == 2 and first[10:].count("test") == 1
    # another package's presence does not change a package's draw
    assert split_by_file(["a"] * 10, 0.2, seed=0) == first[:10]
    assert any(split_by_file(packages, 0.2, seed=s) != first for s in range(1, 5))


def test_babble_keywords_dropped(tmp_path):
    sf.write(tmp_path / "no.ogg", _tone(0.3, 16000), 16000)
    sf.write(tmp_path / "moon_alien.ogg", _tone(0.3, 16000), 16000)
    files = [("klettres-data", str(tmp_path / "no.ogg")),
             ("klettres-data", str(tmp_path / "moon_alien.ogg"))]
    bank, dropped = build_bank(files)
    assert dropped["keyword"] == 1
    assert list(bank.source) == ["klettres-data/babble"]


def test_names_and_categories():
    assert names_a_keyword("/x/en/tv_tree.ogg") and names_a_keyword("/x/egypt_birds.ogg")
    assert not names_a_keyword("/x/en/nose.ogg") and not names_a_keyword("/x/A.ogg")
    hedgewars = "/c/usr/share/games/hedgewars/Data/"
    assert category("hedgewars-data", hedgewars + "Sounds/voices/Pirate/Hello.ogg") == "babble"
    assert category("hedgewars-data", hedgewars + "Music/City.ogg") == "music"
    assert category("hedgewars-data", hedgewars + "Sounds/explosion.ogg") == "effects"
    assert category("wesnoth-1.16-data", "/w/sounds/ambient/birds1.ogg") == "ambience"
    assert category("supertux-data", "/s/supertux2/sounds/rain.wav") == "ambience"
    assert category("lincity-ng-data", "/l/sounds/Water1.wav") == "ambience"
    assert category("klettres-data", "/k/fr/alpha/a.ogg") == "babble"


def test_no_reserved_package():
    # the evaluation suite's packages (issue 14) are never part of the bank
    assert not set(PACKAGES) & {"hydrogen-drumkits", "sonic-pi-samples", "ktuberling-data",
                                "timgm6mb-soundfont", "widelands-data"}
    check_not_reserved(PACKAGES + (DRUM_PACKAGE,))


@pytest.mark.skipif(shutil.which("fluidsynth") is None or
                    not Path(music.FONTS["FluidR3_GM"][1]).is_file(),
                    reason="fluidsynth or FluidR3_GM missing")
def test_drum_hits_rendered_from_the_training_soundfont():
    hits = drum_hits(0.5, seed=0, kits=(0,), keys=(36, 42), velocities=1)
    assert len(hits) == 2 and set(hits.source) == {"fluid-soundfont-gm/drums"}
    assert sorted(hits.split.tolist()) == ["test", "train"]
    assert all(0.85 < np.abs(hits.clip(k)).max() < 0.95 for k in range(len(hits)))
    assert all(v.startswith("FluidR3_GM:kit0:") for v in hits.voice)


def test_trim_and_drop_reasons():
    clip = np.concatenate([np.zeros(100), _tone(0.1, RATE), np.zeros(100)]).astype(np.float32)
    assert len(trim(clip, 20.0)) <= 1600 and len(trim(clip, 0.05)) == 800
    assert len(trim(np.zeros(50, np.float32), 20.0)) == 0
    assert drop_reason(trim(np.zeros(50, np.float32), 20.0)) == "silent"
    assert drop_reason(np.full(1600, 1e-4, np.float32)) == "silent"
    assert drop_reason(_tone(0.02, RATE)) == "short"
    assert drop_reason(_tone(0.1, RATE)) is None


COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: someone
License: GPL-2+

Files: doc/*
License: GFDL-1.2+

Files:
 etc/samples/ambi_choir.flac
 drumkits/Gimme?A?Hand?1.0.h2drumkit
Copyright: someone else
License: CC0
"""


def test_file_licence():
    stanzas = copyright_stanzas(COPYRIGHT)
    assert [licence for _, licence in stanzas] == ["GPL-2+", "GFDL-1.2+", "CC0"]
    assert file_licence("/usr/share/sonic-pi/samples/ambi_choir.flac", stanzas) == "CC0"
    kit = "/usr/share/hydrogen/data/drumkits/Gimme A Hand 1.0/k.wav"
    assert file_licence(kit, stanzas) == "CC0"
    assert file_licence("/usr/share/klettres/en/alpha/a.ogg", stanzas) == "GPL-2+"
    assert file_licence("/x/y.ogg", stanzas[1:]) == "unknown"


GAME_COPYRIGHT = """Files: *
License: GPL-2

Files: share/hedgewars/Data/Sounds/*
License: GFDL-1.3

Files: share/hedgewars/Data/Sounds/Droplet*.ogg
License: CC-BY-SA-3.0

Files: hedgewars/*
License: GPL-2
"""


def test_file_licence_prefers_the_most_specific_paragraph():
    # installed as share/games/hedgewars/...; the source folder hedgewars/* (code) also
    # matches the installed path, less specifically than the data paragraphs
    stanzas = copyright_stanzas(GAME_COPYRIGHT)
    sounds = "/usr/share/games/hedgewars/Data/Sounds/"
    assert file_licence(sounds + "explosion.ogg", stanzas) == "GFDL-1.3"
    assert file_licence(sounds + "Droplet1.ogg", stanzas) == "CC-BY-SA-3.0"
    assert file_licence("/usr/share/games/hedgewars/Data/Music/City.ogg", stanzas) == "GPL-2"
