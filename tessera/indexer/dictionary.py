"""The data dictionary: every feature Tessera computes, in the order of the stored vectors.

Each entry says what the number is, its unit and usual range, which essentia
algorithm (or which documented numpy computation) made it with which
parameters, what it means in plain words and how far to trust it. The API
serves it at /api/features and `tessera features --markdown` writes
docs/FEATURES.md from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tessera.core.vocab import QUALITY_FLAGS

# 2: the last segment covers the short tail; 3: pitch-independent timbre (envelope shape, attack MFCCs,
# harmonic descriptors); 4: onset and beat descriptors no longer depend on the file analysed before in
# the same process (essentia's Onsets kept state between files). Files indexed under an older version are
# re-analysed by the next `tessera index`;
# the faiss indexes are rebuilt from the vectors of this version only.
EXTRACTOR_VERSION = "tessera-frames-4"

FRAME = "frameSize=2048, hopSize=1024 at 44.1 kHz, Hann window"


@dataclass(frozen=True)
class FeatureDef:
    name: str
    group: str  # timbre | spectral | dynamics | envelope | harmonic | rhythm | tonal
    unit: str
    range: str
    algorithm: str
    parameters: str
    meaning: str
    reliability: str
    # words for cluster explanations: (when clearly higher, when clearly lower)
    high: str = ""
    low: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mfcc_defs() -> list[FeatureDef]:
    out = []
    for stat, meaning in (("mean", "average"), ("std", "variation over time of"), ("dstd", "speed of change of")):
        for i in range(1, 13):
            out.append(FeatureDef(
                name=f"mfcc_{stat}_{i}", group="timbre", unit="dimensionless (log-mel cepstrum)",
                range="about -100..100" if stat == "mean" else "0..50",
                algorithm="essentia MFCC" + (" (frame-to-frame difference)" if stat == "dstd" else ""),
                parameters=f"{FRAME}; 40 mel bands 0-11025 Hz, 13 coefficients, coefficient {i}",
                meaning=f"{meaning.capitalize()} mel-frequency cepstral coefficient {i}: one dimension of the "
                "overall tone colour, independent of pitch and loudness.",
                reliability="Robust; compares timbre well within one recording setup, less across very "
                "different microphones or codecs.",
            ))
    return out


def _bark_defs() -> list[FeatureDef]:
    return [
        FeatureDef(
            name=f"bark_{i}", group="timbre", unit="dB relative to the total", range="-80..0",
            algorithm="essentia BarkBands", parameters=f"{FRAME}; 27 Bark bands, band {i}, mean energy",
            meaning=f"How much of the sound's energy lies in critical band {i} (1 = lowest, 27 = highest), "
            "relative to all bands: the rough spectral envelope as the ear groups it.",
            reliability="Robust; sensitive to equalisation and to the low-pass of lossy codecs in the top bands.",
        )
        for i in range(1, 28)
    ]


def _contrast_defs() -> list[FeatureDef]:
    out = []
    for kind, meaning in (("contrast", "peak-to-valley contrast"), ("valley", "valley level")):
        for i in range(1, 7):
            out.append(FeatureDef(
                name=f"spectral_{kind}_{i}", group="spectral", unit="dimensionless (log ratio)",
                range="-50..50 (bounded; bands with no energy sit at the bounds)",
                algorithm="essentia SpectralContrast", parameters=f"{FRAME}; 6 octave bands from 200 Hz, band {i}",
                meaning=f"Spectral {meaning} in octave band {i}: high contrast means clear tones or partials, "
                "low contrast noise-like sound in that band.",
                reliability="Robust.",
            ))
    return out


def _envelope_defs() -> list[FeatureDef]:
    out = [
        FeatureDef(
            name=f"envelope_db_{ms}ms", group="envelope", unit="dB relative to the envelope peak", range="-60..0",
            algorithm="numpy on the RMS envelope", parameters=f"{FRAME}; level {ms} ms after the loudest frame, "
            "floored at -60 dB (also past the end of the file)",
            meaning=f"How much of its peak level the sound keeps {ms} ms after the peak: together these six "
            "levels draw the decay curve (a pluck falls fast, an organ holds, a pad swells), which does not "
            "change with the note played.",
            reliability="Meaningful for single sounds; on long recordings it describes the loudest event.",
            high="sustained" if ms >= 400 else "holds after the peak", low="dies away" if ms >= 400 else
            "sharp decay",
        )
        for ms in (50, 100, 200, 400, 800, 1600)
    ]
    out += [
        FeatureDef("envelope_modulation_db", "envelope", "dB", "0..10", "numpy: mean absolute difference between "
                   "the RMS envelope in dB and its 9-frame moving median, frames after the peak above -60 dBFS",
                   FRAME, "How much the level wavers around its own trend: tremolo, beating, rattle or "
                   "roughness; near 0 for a smooth decay or a steady tone.",
                   "Robust; on long recordings it also counts the rhythm of the music.", "wavering level",
                   "smooth level"),
        FeatureDef("spectral_flux_sustain", "envelope", "log(1 + flux)", "0..10", "numpy: spectral flux "
                   "(positive differences of log(1 + 1000 |X|)), mean over frames after the peak, log1p",
                   FRAME, "How much the spectrum keeps changing once the sound has started: high for noisy, "
                   "rattling or evolving sounds, low for steady tones and clean decays.", "Robust.",
                   "restless spectrum", "steady spectrum"),
        FeatureDef("spectral_centroid_slope", "envelope", "octaves per second", "-10..10", "numpy: least-squares "
                   "slope of log2(1 + spectral centroid) over the 0.5 s after the envelope peak", FRAME,
                   "Whether the sound darkens as it decays (plucked strings, struck bars: negative) or keeps "
                   "or gains brightness (bowed and blown sounds, swells: zero or positive).",
                   "Meaningful for single sounds.", "brightens", "darkens"),
    ]
    out += [
        FeatureDef(
            name=f"mfcc_attack_{i}", group="timbre", unit="dimensionless (log-mel cepstrum)", range="about -100..100",
            algorithm="essentia MFCC (as mfcc_mean), mean over the attack frames",
            parameters=f"{FRAME}; the 3 frames (~70 ms) from the first frame within 30 dB of the peak; "
            f"coefficient {i}",
            meaning=f"Mel-frequency cepstral coefficient {i} of the attack alone: the colour of the onset "
            "(hammer, pick, breath, bow or stick noise), which tells instruments apart better than their "
            "sustained tone and does not follow the pitch.",
            reliability="Meaningful for single sounds; on long recordings it describes the loudest event.",
        )
        for i in range(1, 13)
    ]
    return out


def _harmonic_defs() -> list[FeatureDef]:
    pitched = "essentia PitchYinFFT + SpectralPeaks + HarmonicPeaks"
    params = "every 4th frame with pitch confidence > 0.5, up to 20 harmonics"
    return [
        FeatureDef("pitched_ratio", "harmonic", "ratio", "0..1", "essentia PitchYinFFT", "every 4th frame above "
                   "-60 dBFS; confidence > 0.5 with a harmonic series found", "Share of the sound that has a "
                   "clear harmonic pitch.", "Robust.", "pitched", "unpitched or noisy"),
        *[FeatureDef(f"tristimulus_{i}", "harmonic", "ratio", "0..1", f"{pitched} + essentia Tristimulus",
                     params, meaning, "Only meaningful when pitched_ratio is high; 1/3 each when unpitched.",
                     high, low)
          for i, meaning, high, low in (
              (1, "Share of the harmonic energy in the fundamental (Pollard and Jansson's first tristimulus): "
                  "high for flute-like, pure tones.", "strong fundamental", "weak fundamental"),
              (2, "Share of the harmonic energy in harmonics 2-4: a full, warm middle.", "strong low partials",
               "weak low partials"),
              (3, "Share of the harmonic energy in harmonics 5 and up: bright, brassy or reedy tones.",
               "strong high partials", "weak high partials"))],
        FeatureDef("odd_even_ratio", "harmonic", "log10 ratio", "-3..3", f"{pitched} + essentia "
                   "OddToEvenHarmonicEnergyRatio, log10, median over frames", params,
                   "Balance of odd against even harmonics: clearly positive for clarinet-like and square-wave "
                   "tones (mostly odd harmonics), near 0 for most others.", "Only meaningful when "
                   "pitched_ratio is high; 0 when unpitched.", "odd-harmonic (hollow)", "even-rich"),
        FeatureDef("harmonic_centroid", "harmonic", "harmonic number", "1..20", f"{pitched}; numpy: "
                   "power-weighted mean of harmonic frequency / fundamental, median over frames", params,
                   "Brightness relative to the note played: the typical harmonic carrying the energy. Unlike "
                   "the spectral centroid it does not rise with pitch, so it compares instruments across "
                   "registers.", "Only meaningful when pitched_ratio is high; 0 when unpitched.",
                   "bright for its pitch", "mellow for its pitch"),
        *[FeatureDef(f"harmonic_profile_{i}", "harmonic", "dB relative to the strongest harmonic", "-60..0",
                     f"{pitched}; numpy: 20 log10 of harmonic {i}'s magnitude over the strongest one's, median "
                     "over frames", params, f"Level of harmonic {i} against the strongest partial: the first "
                     "eight together draw the spectral envelope sampled at the harmonics, a pitch-normalised "
                     "picture of the instrument's resonances (weak even harmonics of a clarinet, the strong "
                     "fundamental of a flute).", "Only meaningful when pitched_ratio is high; -60 when "
                     "unpitched.", f"strong harmonic {i}", f"weak harmonic {i}")
          for i in range(1, 9)],
    ]


_SPECTRAL = [
    FeatureDef("spectral_centroid_mean", "spectral", "Hz", "0..22050", "numpy on the magnitude spectrum "
               "(definition of essentia Centroid)", FRAME, "Brightness: the balance point of the spectrum.",
               "Robust.", "bright", "dark"),
    FeatureDef("spectral_centroid_std", "spectral", "Hz", "0..10000", "as spectral_centroid_mean, standard "
               "deviation over frames", FRAME, "How much the brightness changes over time.", "Robust.",
               "changing brightness", "steady brightness"),
    FeatureDef("spectral_spread_mean", "spectral", "Hz", "0..10000", "numpy (essentia DistributionShape "
               "definition, square root of the 2nd central moment)", FRAME,
               "Bandwidth: how widely the energy is spread around the centroid.", "Robust.", "wide-band",
               "narrow-band"),
    FeatureDef("spectral_skewness_mean", "spectral", "dimensionless", "-2..20", "numpy (3rd standardised "
               "moment, essentia DistributionShape definition)", FRAME,
               "Asymmetry of the spectrum: high values mean energy concentrated low with a thin high tail.",
               "Moderate; unstable on near-silent frames.", "low-heavy", "high-heavy"),
    FeatureDef("spectral_kurtosis_mean", "spectral", "log(1 + excess kurtosis)", "-4.6..6 (log1p of -0.99..400)",
               "numpy (4th standardised moment minus 3, essentia DistributionShape definition), then "
               "log1p(max(k, -0.99)) per frame and the mean over frames", FRAME,
               "Peakedness of the spectrum on a log scale: high for a few strong partials, low for flat noise. "
               "exp(value) - 1 is roughly the typical excess kurtosis.",
               "Moderate; the raw kurtosis is heavy-tailed (one tonal frame can reach hundreds), hence the log.",
               "peaky spectrum", "flat spectrum"),
    FeatureDef("spectral_flatness_mean", "spectral", "ratio", "0..1", "numpy (geometric/arithmetic mean of the "
               "power spectrum, essentia Flatness definition)", FRAME,
               "Noisiness: near 1 for white noise, near 0 for clear tones.", "Robust.", "noisy", "tonal"),
    FeatureDef("spectral_rolloff_mean", "spectral", "Hz", "0..22050", "numpy (essentia RollOff definition, 85% "
               "of energy)", FRAME, "Frequency below which 85% of the energy lies.", "Robust; capped by the "
               "low-pass of lossy codecs.", "extends high", "mostly low frequencies"),
    FeatureDef("zero_crossing_rate_mean", "spectral", "crossings per sample", "0..1", "numpy (essentia "
               "ZeroCrossingRate definition)", FRAME, "How often the waveform changes sign: high for noisy "
               "or very bright sounds.", "Robust; affected by DC offset.", "hissy", "smooth"),
]

_DYNAMICS = [
    FeatureDef("loudness_integrated", "dynamics", "LUFS", "-70..0", "numpy implementation of ITU-R BS.1770-4 "
               "(EBU R128), checked against essentia LoudnessEBUR128", "400 ms blocks, 75% overlap, absolute "
               "gate -70 LUFS, relative gate -10 LU", "Programme loudness as a listener hears it.",
               "Robust for material longer than 400 ms.", "loud", "quiet"),
    FeatureDef("loudness_range", "dynamics", "LU", "0..40", "numpy implementation of EBU Tech 3342",
               "3 s windows every 1 s, relative gate -20 LU, 10th to 95th percentile",
               "How much the loudness varies over the recording (macro-dynamics).",
               "Zero for material shorter than 4 s.", "wide dynamics", "even loudness"),
    FeatureDef("dynamic_complexity", "dynamics", "dB", "0..20", "essentia DynamicComplexity",
               "frameSize=0.2 s", "Average absolute deviation of loudness from its mean: how dynamic the "
               "recording is at short time scales.", "Robust.", "dynamic", "compressed or steady"),
    FeatureDef("log_attack_time", "dynamics", "log10 seconds", "-3..1", "essentia LogAttackTime on the RMS "
               "envelope", "envelope at 43 Hz; startAttackThreshold 0.2, stopAttackThreshold 0.9",
               "How fast the sound reaches its peak: low for plucks and hits, high for swells.",
               "Meaningful for single sounds; on long recordings it describes the first event only.",
               "slow attack", "sharp attack"),
    FeatureDef("decay_time", "dynamics", "seconds", "0..duration", "numpy on the RMS envelope", "time from the "
               "envelope peak until it first falls 20 dB below it", "How long the sound rings after its peak.",
               "Meaningful for single sounds; for sustained recordings it is the time to the first big drop.",
               "long ring", "short decay"),
    FeatureDef("temporal_centroid", "dynamics", "fraction of duration", "0..1", "numpy (essentia TCToTotal "
               "definition) on the RMS envelope", "envelope at 43 Hz", "Where the energy sits in time: low "
               "for hits that die away, about 0.5 for steady sounds.", "Robust.", "energy late",
               "energy early"),
    FeatureDef("rms_std_db", "dynamics", "dB", "0..40", "numpy", FRAME, "Frame-to-frame spread of level.",
               "Robust.", "fluctuating level", "steady level"),
]

_RHYTHM = [
    FeatureDef("onset_rate", "rhythm", "onsets per second", "0..15", "essentia Onsets on spectral-flux and HFC "
               "detection functions", "frameRate 43.07 Hz, weights 1:1", "How many distinct sound events "
               "start per second.", "Robust on percussive material; under-counts soft legato onsets.",
               "many events", "few events"),
    FeatureDef("bpm", "rhythm", "beats per minute", "40..220 (0 when undefined)", "numpy autocorrelation of the "
               "spectral-flux novelty curve with a log-normal tempo prior around 120 BPM", "lags for 40-220 BPM, "
               "parabolic interpolation", "Most likely tempo of a regular pulse.",
               "Unreliable when bpm_confidence is below about 0.3, which is usual for field recordings, "
               "drones and single hits: read it together with its confidence.", "fast", "slow"),
    FeatureDef("bpm_confidence", "rhythm", "ratio", "0..1", "normalised autocorrelation of the novelty curve "
               "at the chosen tempo lag", "", "How periodic the pulse is: near 1 for a steady beat, near 0 "
               "when there is none.", "Robust as an indicator of pulse; 0 for material under 3 s.",
               "steady pulse", "no steady pulse"),
    FeatureDef("beat_strength", "rhythm", "ratio", "0..20", "numpy: mean novelty at detected onsets divided by "
               "the median novelty", "", "How strongly events stand out from the background.",
               "Moderate.", "punchy onsets", "soft onsets"),
]

_TONAL = [
    *[FeatureDef(f"hpcp_rel_{i}", "tonal", "ratio", "0..1", "essentia SpectralPeaks + HPCP, rotated so the "
                 "estimated tonic is bin 1", f"{FRAME}; 36-bin HPCP folded to 12, peaks 40-5000 Hz; bin {i}",
                 f"Strength of the pitch class {i - 1} semitones above the estimated tonic: the harmonic "
                 "profile, independent of transposition.", "Meaningful for pitched music; noise for "
                 "unpitched sounds.") for i in range(1, 13)],
    FeatureDef("key_strength", "tonal", "correlation", "0..1", "essentia Key", "profileType='bgate', on the mean "
               "36-bin HPCP", "How well the pitch content fits a major or minor key (a Western model: a "
               "low value is not a defect, it means the music is organised otherwise).",
               "Meaningful only for pitched material.", "clearly major/minor", "not major/minor"),
    FeatureDef("scale_major", "tonal", "0 or 1", "0..1", "essentia Key", "profileType='bgate'",
               "1 when the best-fitting Western key is major, 0 for minor.", "Only meaningful when key_strength "
               "is high.", "", ""),
    FeatureDef("tuning_frequency", "tonal", "Hz", "415..466", "numpy: magnitude-weighted circular mean of "
               "spectral-peak deviations from the 440 Hz equal-tempered grid", "peaks 40-5000 Hz from "
               "essentia SpectralPeaks", "The reference A that best fits the pitches present.",
               "Meaningful for pitched material.", "tuned sharp", "tuned flat"),
    FeatureDef("tuning_deviation_cents", "tonal", "cents", "0..50", "numpy: magnitude-weighted mean absolute "
               "distance of spectral peaks from the nearest 12-tone equal-tempered pitch after correcting for "
               "tuning_frequency", "peaks 40-5000 Hz", "How far the pitches lie off the 12-tone equal-"
               "tempered grid: near 0 for 12-TET instruments, higher for other tuning systems, microtonal "
               "music, inharmonic sounds or noise (25 is what random pitches give).",
               "Read with pitch_salience: high values on unpitched sounds mean noise, not a tuning system.",
               "pitches far from 12-TET", "pitches on the 12-TET grid"),
    FeatureDef("pitch_class_entropy", "tonal", "bits", "0..3.585", "numpy: Shannon entropy of the mean 12-bin "
               "HPCP", "", "How evenly pitch classes are used: low for a few dominant notes, high for "
               "chromatic or noisy material.", "Meaningful for pitched material.", "many pitch classes",
               "few pitch classes"),
    FeatureDef("pitch_salience", "tonal", "ratio", "0..1", "essentia PitchSalience", "every 4th frame",
               "How clearly a pitch is heard (harmonic autocorrelation peak).", "Robust.", "clearly pitched",
               "unpitched"),
    FeatureDef("pitch_median", "tonal", "log2(Hz)", "5..12", "essentia PitchYinFFT, median over confident frames",
               "every 4th frame; frames with confidence > 0.5", "Register: the typical fundamental frequency "
               "(log scale: +1 is an octave up).", "Only meaningful when pitch_salience is high; 0 when no "
               "frame is confidently pitched.", "high register", "low register"),
    FeatureDef("inharmonicity", "tonal", "ratio", "0..1", "essentia HarmonicPeaks + Inharmonicity",
               "every 4th frame with pitch confidence > 0.5", "How far partials stray from whole multiples "
               "of the fundamental: bells, metallophones and stiff strings score high.",
               "Only meaningful for pitched frames; 0 when there are none.", "inharmonic (bell-like)",
               "harmonic"),
]

FEATURES: list[FeatureDef] = [*_mfcc_defs(), *_bark_defs(), *_SPECTRAL, *_contrast_defs(), *_DYNAMICS,
                              *_RHYTHM, *_TONAL, *_envelope_defs(), *_harmonic_defs()]
FEATURE_NAMES: list[str] = [f.name for f in FEATURES]
FEATURE_INDEX: dict[str, int] = {n: i for i, n in enumerate(FEATURE_NAMES)}
BY_NAME: dict[str, FeatureDef] = {f.name: f for f in FEATURES}

# Descriptive labels and quality flags, stored beside the vector but not part of it.
LABELS = [
    FeatureDef("key", "tonal", "pitch class", "C..B", "essentia Key", "profileType='bgate'",
               "Tonic of the best-fitting Western major/minor key.", "Only meaningful when key_strength is high."),
    FeatureDef("scale", "tonal", "major|minor", "", "essentia Key", "profileType='bgate'",
               "Mode of the best-fitting Western key.", "Only meaningful when key_strength is high."),
]

QUALITY = [
    FeatureDef("duration", "quality", "seconds", "0..", "decoder", "", "Length of the recording.", "Exact."),
    FeatureDef("sample_rate", "quality", "Hz", "8000..192000", "decoder", "", "Sample rate of the file.", "Exact."),
    FeatureDef("channels", "quality", "count", "1..", "decoder", "", "Number of channels.", "Exact."),
    FeatureDef("silence_ratio", "quality", "ratio", "0..1", "numpy", f"{FRAME}; frames below -60 dBFS RMS",
               "Share of the recording that is (near) silent.", "Robust."),
    FeatureDef("clipping_ratio", "quality", "ratio", "0..1", "numpy", "samples with |x| >= 0.999 before "
               "resampling", "Share of samples at full scale: a sign of clipping.", "Robust."),
    FeatureDef("dc_offset", "quality", "full scale", "-1..1", "numpy", "mean of all samples",
               "Constant offset of the waveform; large values indicate a faulty recording chain.", "Exact."),
    FeatureDef("noise_floor_db", "quality", "dBFS", "-120..0", "numpy", f"{FRAME}; 10th percentile of frame "
               "RMS over non-digital-silence frames", "Estimated level of the background noise.",
               "An estimate: quiet passages of the music itself count as floor."),
    FeatureDef("snr_db", "quality", "dB", "0..120", "numpy",
               "larger of: 95th minus 10th percentile of frame RMS; median over frames of total power over "
               "the median bin power", "Estimated signal-to-noise ratio.",
               "An estimate: the level spread misses steady noise, the spectral ratio misses dense mixes."),
    FeatureDef("peak_db", "quality", "dBFS", "-120..0", "numpy", "", "Highest sample level.", "Exact."),
]

# The optional learned space (extra `learned`): its own 512-d vector, not part of the feature vector.
LEARNED = [
    FeatureDef("aisfx_embedding", "learned", "512 activations (dimensionless)", "0..",
               "aiSFX X-Sequential-CE network (tessera.indexer.learned) on a 96-band HTK mel spectrogram",
               f"{FRAME}; log10(1 + 10^4 x) / 9.4578; blocks of 100 frames every 50, embeddings averaged",
               "A learned description of the sound as a whole, trained to index sound-effects libraries. "
               "Attribution: aiSFX embedding by Alison B. Ma and Alexander Lerch, \"Representation Learning "
               "for the Automatic Indexing of Sound Effects Libraries\", ISMIR 2022; pre-trained weights "
               "licensed CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/). Exports carrying these "
               "vectors must carry this attribution.",
               "Computed only when the optional extra is installed; not interpretable dimension by dimension."),
]

# Stored per file beside the features, not part of the vector.
FINGERPRINT = [
    FeatureDef("fingerprint", "identity", "chromaprint compressed fingerprint (URL-safe base64)",
               "about 8 sub-fingerprints of 32 bits per second", "essentia Chromaprinter (Chromaprint algorithm 1)",
               "sampleRate=44100 on the mono mix, maxLength=120 s; only for files of 10 s or more",
               "An acoustic fingerprint of the first two minutes: the same recording found again (on Zenodo and "
               "on the Internet Archive, or as FLAC and as MP3) is linked as a duplicate and answered once. Two "
               "files are the same recording when their decoded sub-fingerprints, at their best alignment "
               "within 5 s, differ in at most 20% of bits over at least 80% of the shorter one, and their "
               "durations agree within 5% + 0.5 s.",
               "Robust across lossy transcodes (MP3 128k about 2%, Vorbis q3 about 9% of bits differ; unrelated "
               "recordings 27% or more). Not computed under 10 s: short one-shots and velocity layers of one "
               "instrument align almost perfectly, so short files are linked by md5 only."),
]



def dictionary() -> dict[str, Any]:
    return {
        "extractor_version": EXTRACTOR_VERSION,
        "features": [f.as_dict() for f in FEATURES],
        "labels": [f.as_dict() for f in LABELS],
        "quality": [f.as_dict() for f in QUALITY],
        "fingerprint": [f.as_dict() for f in FINGERPRINT],
        "learned": [f.as_dict() for f in LEARNED],
        "quality_flags": QUALITY_FLAGS,
    }


def markdown() -> str:
    lines = [
        "# Tessera data dictionary",
        "",
        f"Extractor version `{EXTRACTOR_VERSION}`. Generated by `tessera features --markdown`; do not edit.",
        "",
        "Audio is decoded once, mixed to mono and resampled to 44.1 kHz. Files longer than 60 s are also cut "
        "into 30 s segments, each with the same features.",
        "",
    ]
    for title, defs in (("Vector features", FEATURES), ("Labels", LABELS), ("Quality", QUALITY),
                        ("Fingerprint", FINGERPRINT), ("Learned embedding (optional extra)", LEARNED)):
        lines += [f"## {title}", "", "| name | group | unit | range | algorithm | parameters | meaning | "
                  "reliability |", "|---|---|---|---|---|---|---|---|"]
        for f in defs:
            cells = [f.name, f.group, f.unit, f.range, f.algorithm, f.parameters, f.meaning, f.reliability]
            lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
        lines.append("")
    lines += ["## Quality flags", "", "| flag | set when |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in QUALITY_FLAGS.items()]
    return "\n".join(lines) + "\n"
