"""Labelled development and held-out corpora, built reproducibly from audio that Debian packages ship.

Each corpus is a list of audio files with a class label and a *group*: items of one group are near-duplicates
of each other (the same instrument of the same soundfont at other pitches, velocity layers of one kit piece),
so a query never counts its own group as a hit.

Corpora (Debian package -> what is built):
  notes-fluid, notes-timgm   fluidsynth + fluid-soundfont-gm / timgm6mb-soundfont: single notes of every GM
                             program (8 per family, 16 families) at 4 pitches over the family's register
                             (development: all tuning happens on these two)
  drums-hydrogen             hydrogen-drumkits: classes from the instrument names in each drumkit.xml
                             (development)
  sonic-pi                   sonic-pi-samples: the file-name prefix (bd_, ambi_, guit_ ...) is the class
                             (development)
  notes-musescore            fluidsynth + musescore-general-soundfont-small (MuseScore_General_Lite.sf3):
                             the same 512 notes from a third soundfont (HELD OUT: never used to choose anything)
  drums-avl                  avldrums.lv2-soundfont (Black Pearl and Red Zeppelin kits) rendered on the GM
                             drum map at 3 velocities (HELD OUT)

Rendering writes one MIDI file per soundfont (a tiny stdlib writer), renders it once with fluidsynth (reverb
and chorus off, so one note never bleeds into the next) and cuts the result into one FLAC per note under the
cache directory (default ~/.cache/tessera-bench/corpora). Re-running reuses the cache.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HYDROGEN = Path("/usr/share/hydrogen/data/drumkits")
SONIC_PI = Path("/usr/share/sonic-pi/samples")
SOUNDFONTS = {
    "fluid": Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    "timgm": Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    "musescore": Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"),
}
AVL_KITS = {
    "black_pearl": Path("/usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2"),
    "red_zeppelin": Path("/usr/share/sounds/sf2/Red_Zeppelin_4_LV2.sf2"),
}
DEFAULT_CACHE = Path.home() / ".cache" / "tessera-bench" / "corpora"
SR = 44100

# the 16 General MIDI families (8 programs each) with the MIDI note range each family is usually played in
GM_FAMILIES: list[tuple[str, int, int]] = [
    ("piano", 36, 84), ("chromatic_percussion", 60, 96), ("organ", 36, 84), ("guitar", 40, 76),
    ("bass", 28, 55), ("strings", 40, 79), ("ensemble", 48, 79), ("brass", 45, 77), ("reed", 50, 81),
    ("pipe", 60, 91), ("synth_lead", 48, 84), ("synth_pad", 48, 79), ("synth_effects", 48, 79),
    ("ethnic", 48, 79), ("percussive", 48, 72), ("sound_effects", 48, 72),
]
PITCHES_PER_PROGRAM = 4
NOTE_ON_S, NOTE_SLOT_S = 1.0, 3.0  # note held 1 s, next note 3 s later: the release dies in between
CUT_S = 2.0  # each item keeps the first 2 s of its slot (attack, sustain and the start of the release)

# GM percussion key -> class (keys not listed: side stick, clap, whistles and the like are dropped)
GM_DRUMS: dict[int, str] = {
    35: "kick", 36: "kick", 38: "snare", 40: "snare", 42: "hihat", 44: "hihat", 46: "hihat",
    41: "tom", 43: "tom", 45: "tom", 47: "tom", 48: "tom", 50: "tom",
    49: "cymbal", 51: "cymbal", 52: "cymbal", 53: "cymbal", 55: "cymbal", 57: "cymbal", 59: "cymbal",
    54: "perc", 56: "perc", 60: "perc", 61: "perc", 62: "perc", 63: "perc", 64: "perc", 65: "perc", 66: "perc",
    67: "perc", 68: "perc", 69: "perc", 70: "perc", 75: "perc", 76: "perc", 77: "perc",
}
DRUM_VELOCITIES = (60, 90, 120)

# Hydrogen instrument name -> class; first match wins ("cowbell" before the cymbal rule's "bell").
# The six classes of the issue: clap joins perc; sticks, rims, FX and unnamed instruments are dropped.
HYDROGEN_RULES: list[tuple[str, str]] = [
    (r"cowbell|agogo|bongo|cajon|clave|conga|djembe|dununba|kenkeni|sangban|maraca|tambourine|woodblock"
     r"|finger snap|waterglass|clap", "perc"),
    (r"kick|bass ?drum|\bbd\b", "kick"),
    (r"snare", "snare"),
    (r"hi-?hat|\bhh\b|\bhat\b|\bohh\b", "hihat"),
    (r"\btom|floor tom", "tom"),
    (r"crash|ride|china|splash|cymbal|paiste bell", "cymbal"),
]


@dataclass(frozen=True)
class Item:
    path: str
    cls: str
    group: str  # near-duplicates share a group: never counted as hits of each other
    source: str  # soundfont, kit or pack: the "cross-source" variant keeps only other sources


@dataclass
class Corpus:
    name: str
    kind: str  # notes | drums | pack
    held_out: bool
    items: list[Item]
    origin: str  # Debian package and licence, for the report
    parts: tuple[str, ...] = ()  # a corpus made of other corpora: their vectors are reused, not recomputed


# ---------------------------------------------------------------------------------------------- MIDI

def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def write_midi(path: Path, events: list[tuple[float, bytes]]) -> None:
    """A format-0 MIDI file of (time in seconds, message bytes); 120 BPM and 1000 ticks a beat = 2000 ticks/s."""
    track = bytearray(b"\x00\xff\x51\x03\x07\xa1\x20")  # tempo 500000 us per beat
    last = 0
    for t, msg in sorted(events, key=lambda e: e[0]):
        tick = round(t * 2000)
        track += _vlq(tick - last) + msg
        last = tick
    track += b"\x00\xff\x2f\x00"
    path.write_bytes(b"MThd" + struct.pack(">IHHH", 6, 0, 1, 1000) + b"MTrk" + struct.pack(">I", len(track))
                     + bytes(track))


def render(sf: Path, midi: Path, wav: Path) -> None:
    if not shutil.which("fluidsynth"):
        raise RuntimeError("fluidsynth is missing: apt-get install fluidsynth (scripts/setup.sh --bench)")
    subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5", "-r", str(SR), "-T", "wav",
                    "-F", str(wav), str(sf), str(midi)], check=True, capture_output=True, timeout=1800)


def _cut(wav: Path, slots: list[tuple[str, float]], out_dir: Path) -> list[str]:
    """Cut [t, t + CUT_S) of the rendering for each (name, t); near-silent cuts (a missing preset) are skipped."""
    import soundfile as sf

    x, sr = sf.read(wav, dtype="float32", always_2d=True)
    kept = []
    for name, t in slots:
        seg = x[int(t * sr): int((t + CUT_S) * sr)]
        if seg.size == 0 or float(np.abs(seg).max()) < 10 ** (-50 / 20):
            continue
        p = out_dir / f"{name}.flac"
        sf.write(p, seg, sr, subtype="PCM_16")
        kept.append(name)
    return kept


def _render_cached(key: str, sf: Path, events: list[tuple[float, bytes]], slots: list[tuple[str, float]],
                   cache: Path) -> list[str]:
    out_dir = cache / key
    done = out_dir / "DONE"
    if done.exists():
        return done.read_text().split()
    out_dir.mkdir(parents=True, exist_ok=True)
    midi, wav = out_dir / "all.mid", out_dir / "all.wav"
    write_midi(midi, events)
    render(sf, midi, wav)
    kept = _cut(wav, slots, out_dir)
    wav.unlink()
    done.write_text("\n".join(kept))
    return kept


# ---------------------------------------------------------------------------------------------- corpora

def note_plan(seed: int = 0) -> list[tuple[int, int, int, str]]:
    """(program, pitch, velocity, family) of every note: the same plan for every soundfont."""
    rng = np.random.default_rng(seed)
    plan = []
    for fam_i, (family, lo, hi) in enumerate(GM_FAMILIES):
        for prog in range(fam_i * 8, fam_i * 8 + 8):
            base = np.linspace(lo, hi, PITCHES_PER_PROGRAM)
            for p in base:
                pitch = int(np.clip(round(p + rng.integers(-2, 3)), 0, 127))
                plan.append((prog, pitch, int(rng.integers(70, 121)), family))
    return plan


def gm_notes(sf_name: str, cache: Path = DEFAULT_CACHE, held_out: bool = False) -> Corpus:
    sf = SOUNDFONTS[sf_name]
    events: list[tuple[float, bytes]] = []
    slots: list[tuple[str, float]] = []
    meta: dict[str, tuple[str, int]] = {}
    for i, (prog, pitch, vel, family) in enumerate(note_plan()):
        t = 1.0 + i * NOTE_SLOT_S
        ch = i % 9  # a fresh channel per note (never 9, the drum channel): no program left over
        events += [(t - 0.5, bytes([0xC0 | ch, prog])), (t, bytes([0x90 | ch, pitch, vel])),
                   (t + NOTE_ON_S, bytes([0x80 | ch, pitch, 0]))]
        name = f"n{i:04d}_p{prog:03d}_k{pitch:03d}"
        slots.append((name, t))
        meta[name] = (family, prog)
    kept = _render_cached(f"notes-{sf_name}", sf, events, slots, cache)
    items = [Item(str(cache / f"notes-{sf_name}" / f"{n}.flac"), meta[n][0], f"{sf_name}:{meta[n][1]}", sf_name)
             for n in kept]
    return Corpus(f"notes-{sf_name}", "notes", held_out, items, f"fluidsynth + {sf.name}")


def avl_drums(cache: Path = DEFAULT_CACHE) -> Corpus:
    items: list[Item] = []
    for kit, sf in AVL_KITS.items():
        events: list[tuple[float, bytes]] = [(0.1, bytes([0xC0, 0]))]
        slots: list[tuple[str, float]] = []
        meta: dict[str, tuple[str, int]] = {}
        i = 0
        for key, cls in GM_DRUMS.items():
            for vel in DRUM_VELOCITIES:
                t = 1.0 + i * NOTE_SLOT_S
                # the AVL kits are bank 0 program 0, played on channel 1 like any melodic preset
                events += [(t, bytes([0x90, key, vel])), (t + 0.5, bytes([0x80, key, 0]))]
                name = f"d{i:04d}_k{key:03d}_v{vel:03d}"
                slots.append((name, t))
                meta[name] = (cls, key)
                i += 1
        kept = _render_cached(f"drums-avl-{kit}", sf, events, slots, cache)
        items += [Item(str(cache / f"drums-avl-{kit}" / f"{n}.flac"), meta[n][0], f"{kit}:{meta[n][1]}", kit)
                  for n in kept]
    return Corpus("drums-avl", "drums", True, items, "avldrums.lv2-soundfont (CC BY-SA 4.0)")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def hydrogen_drums() -> Corpus:
    by_path: dict[str, Item] = {}
    conflicts: set[str] = set()
    for xml in sorted(HYDROGEN.glob("*/drumkit.xml")):
        kit = xml.parent.name
        for ins in ET.parse(xml).getroot().iter():
            if _local(ins.tag) != "instrument":
                continue
            name_el = next((c for c in ins if _local(c.tag) == "name"), None)
            name = (name_el.text or "").strip() if name_el is not None else ""
            cls = next((c for pat, c in HYDROGEN_RULES if re.search(pat, name.lower())), None)
            if cls is None:
                continue
            for fn in (e.text for e in ins.iter() if _local(e.tag) == "filename" and e.text):
                p = xml.parent / fn
                if not p.is_file():
                    continue
                old = by_path.get(str(p))
                if old is not None and old.cls != cls:
                    conflicts.add(str(p))
                by_path.setdefault(str(p), Item(str(p), cls, f"{kit}:{name}", kit))
    items = [it for p, it in sorted(by_path.items()) if p not in conflicts]
    return Corpus("drums-hydrogen", "drums", False, items, "hydrogen-drumkits (GPL, CC BY(-SA), CC0 per kit)")


def sonic_pi() -> Corpus:
    items = []
    for p in sorted(SONIC_PI.glob("*.flac")):
        m = re.match(r"^([a-z]+)_", p.name)
        if m:
            items.append(Item(str(p), m.group(1), p.name, "sonic-pi"))
    # classes with fewer than 4 files cannot score precision@5 meaningfully
    counts: dict[str, int] = {}
    for it in items:
        counts[it.cls] = counts.get(it.cls, 0) + 1
    items = [it for it in items if counts[it.cls] >= 4]
    return Corpus("sonic-pi", "pack", False, items, "sonic-pi-samples (CC0 / MIT)")


def merged_notes(a: Corpus, b: Corpus) -> Corpus:
    """Two soundfonts' notes as one corpus (the issue's 'two soundfonts' setting)."""
    return Corpus(f"{a.name}+{b.name.removeprefix('notes-')}", "notes", a.held_out or b.held_out,
                  a.items + b.items, f"{a.origin}; {b.origin}")


def upload_across(dev: Corpus, held: Corpus) -> Corpus:
    """Uploads between the held-out soundfont and the development ones: the development notes act as one
    source, so the 'upload' variant queries each side with the other as the catalogue (both directions)."""
    items = [Item(i.path, i.cls, i.group, "dev-soundfonts") for i in dev.items] + held.items
    return Corpus(f"{held.name}-vs-dev", "notes", True, items, f"{held.origin} against {dev.origin}",
                  parts=(dev.name, held.name))


def all_corpora(cache: Path = DEFAULT_CACHE) -> list[Corpus]:
    fluid, timgm = gm_notes("fluid", cache), gm_notes("timgm", cache)
    dev_notes, held_notes = merged_notes(fluid, timgm), gm_notes("musescore", cache, held_out=True)
    return [dev_notes, hydrogen_drums(), sonic_pi(), held_notes, avl_drums(cache),
            upload_across(dev_notes, held_notes)]


if __name__ == "__main__":
    from collections import Counter

    for c in all_corpora():
        print(f"{c.name:28s} {'held out' if c.held_out else 'dev':8s} {len(c.items):5d} items  "
              f"{dict(sorted(Counter(i.cls for i in c.items).items()))}")
