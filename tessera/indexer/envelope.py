"""Pitch-independent timbre descriptors from the frame arrays: envelope shape, attack colour, partials.

An instrument family keeps its envelope (how a note starts, decays and wavers), the colour of its attack
and the balance of its partials relative to the fundamental whatever note it plays; these descriptors
read exactly that, from what tessera.indexer.frames already computed (no extra pass over the spectra).
"""

from __future__ import annotations

import numpy as np

from tessera.indexer.frames import FRAME_RATE, HARMONIC_PROFILE, SILENCE_DB, FrameData

# levels of the RMS envelope at these times after its peak: the decay curve, sampled on a log time axis
ENVELOPE_TIMES_MS = (50, 100, 200, 400, 800, 1600)
ENVELOPE_FLOOR_DB = -60.0  # relative to the peak: below is "gone", and the file's end counts as gone too
ATTACK_FRAMES = 3  # ~70 ms: the attack transient of a note or a hit
ONSET_BELOW_PEAK_DB = 30.0  # the attack starts at the first frame within 30 dB of the peak
SLOPE_SECONDS = 0.5


def _moving_median(x: np.ndarray, width: int) -> np.ndarray:
    if x.size < width:
        return np.full_like(x, np.median(x) if x.size else 0.0)
    pad = width // 2
    xp = np.pad(x, pad, mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(xp, width)
    return np.asarray(np.median(win, axis=1))


def envelope_shape(fd: FrameData, lo: int, hi: int) -> dict[str, float]:
    """Decay curve, envelope modulation, attack MFCCs and brightness slope of frames [lo, hi)."""
    out: dict[str, float] = {}
    db = np.clip(fd.rms_db[lo:hi], -120.0, 0.0)
    peak = int(np.argmax(db)) if db.size else 0
    rel = db - (db[peak] if db.size else 0.0)
    for ms in ENVELOPE_TIMES_MS:
        i = peak + round(ms / 1000 * FRAME_RATE)
        out[f"envelope_db_{ms}ms"] = float(max(rel[i], ENVELOPE_FLOOR_DB)) if i < rel.size else ENVELOPE_FLOOR_DB
    # tremolo, beating and roughness: how far the level strays from its own slow trend after the peak
    tail = db[peak:]
    tail = tail[tail >= SILENCE_DB]
    out["envelope_modulation_db"] = float(np.abs(tail - _moving_median(tail, 9)).mean()) if tail.size > 4 else 0.0
    act = fd.rms_db[lo:hi] >= SILENCE_DB
    fl = fd.flux[lo:hi][peak:][act[peak:]]
    out["spectral_flux_sustain"] = float(np.log1p(fl[1:].mean())) if fl.size > 1 else 0.0
    # the colour of the attack: MFCCs of the first frames from the onset
    above = np.nonzero(rel >= -ONSET_BELOW_PEAK_DB)[0]
    onset = int(above[0]) if above.size else 0
    att = fd.mfcc[lo + onset: min(hi, lo + onset + ATTACK_FRAMES), 1:]
    att_mean = att.mean(axis=0) if att.size else np.zeros(fd.mfcc.shape[1] - 1)
    for i, v in enumerate(att_mean):
        out[f"mfcc_attack_{i + 1}"] = float(v)
    # brightness that falls after the peak (plucks, hits) or holds (bowed, blown, organ)
    n = min(hi - lo - peak, round(SLOPE_SECONDS * FRAME_RATE))
    cen = fd.shape["centroid"][lo + peak: lo + peak + n]
    ok = fd.rms_db[lo + peak: lo + peak + n] >= SILENCE_DB
    if ok.sum() >= 3:
        t = np.arange(n)[ok] / FRAME_RATE
        out["spectral_centroid_slope"] = float(np.polyfit(t, np.log2(cen[ok] + 1.0), 1)[0])
    else:
        out["spectral_centroid_slope"] = 0.0
    return out


def harmonic_shape(fd: FrameData, lo: int, hi: int) -> dict[str, float]:
    """Tristimulus, odd/even balance and harmonic centroid over the confidently pitched frames of [lo, hi)."""
    sel = (fd.pitch_frames >= lo) & (fd.pitch_frames < hi)
    act = sel & (fd.rms_db[fd.pitch_frames] >= SILENCE_DB)
    ok = act & np.isfinite(fd.odd_even)
    out: dict[str, float] = {"pitched_ratio": float(ok.sum() / max(int(act.sum()), 1))}
    if ok.any():
        tr = fd.tristimulus[ok].mean(axis=0)
        oe = float(np.median(np.log10(np.clip(fd.odd_even[ok], 1e-3, 1e3))))
        hc = float(np.median(fd.harmonic_centroid[ok]))
        prof = np.nanmedian(fd.harmonic_profile[ok], axis=0)
    else:
        # unpitched: an even split and no harmonic structure, so pitched and unpitched sounds stay apart
        tr, oe, hc = np.full(3, 1.0 / 3.0), 0.0, 0.0
        prof = np.full(HARMONIC_PROFILE, -60.0)
    for i in range(HARMONIC_PROFILE):
        out[f"harmonic_profile_{i + 1}"] = float(prof[i]) if np.isfinite(prof[i]) else -60.0
    for i in range(3):
        out[f"tristimulus_{i + 1}"] = float(tr[i])
    out["odd_even_ratio"] = oe
    out["harmonic_centroid"] = hc
    return {k: (v if np.isfinite(v) else 0.0) for k, v in out.items()}

