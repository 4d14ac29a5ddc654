"""Feature extraction: per-frame analysis (tessera.indexer.frames) aggregated per file and per segment.

File and segment statistics are cheap aggregations over slices of the frame
arrays, so segmenting a long recording costs almost nothing extra.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from typing import Any

import numpy as np

from tessera.indexer.decode import TARGET_SR, Decoded
from tessera.indexer.dictionary import EXTRACTOR_VERSION, FEATURE_NAMES
from tessera.indexer.envelope import envelope_shape, harmonic_shape
from tessera.indexer.errors import FeatureError
from tessera.indexer.frames import (
    CHROMA_SECONDS,
    CONTRAST_BOUND,
    EPS,
    FINGERPRINT_MIN_SECONDS,
    FRAME_RATE,
    FS,
    HS,
    KEYS,
    SILENCE_DB,
    FrameData,
    algorithms,
    frame_data,
    magnitudes,
)
from tessera.indexer.loudness import KHops, loudness_of
from tessera.indexer.store import FeaturesOut, SegmentOut

# re-exported: callers import the analysis entry points from here
__all__ = [
    "CONTRAST_BOUND",
    "FrameData",
    "aggregate",
    "algorithms",
    "extract",
    "frame_data",
    "magnitudes",
    "quality",
    "vector_of",
]


def _tempo(flux: np.ndarray) -> tuple[float, float]:
    if len(flux) < 3 * FRAME_RATE:
        return 0.0, 0.0
    x = flux.astype(np.float64) - flux.mean()
    # autocorrelation through the FFT: np.correlate is O(n^2), minutes on an hour-long recording
    nfft = 1 << int(2 * len(x) - 1).bit_length()
    spec = np.fft.rfft(x, nfft)
    ac = np.fft.irfft(spec.real**2 + spec.imag**2, nfft)[: len(x)]
    if ac[0] <= 0:
        return 0.0, 0.0
    ac = ac / ac[0]
    lo, hi = int(60 * FRAME_RATE / 220), math.ceil(60 * FRAME_RATE / 40)
    hi = min(hi, len(ac) - 2)
    if hi <= lo + 2:
        return 0.0, 0.0
    lags = np.arange(lo, hi + 1)
    bpms = 60 * FRAME_RATE / lags
    prior = np.exp(-0.5 * (np.log2(bpms / 120.0) / 0.9) ** 2)
    k = int(np.argmax(np.maximum(ac[lo:hi + 1], 0) * prior)) + lo
    conf = float(max(0.0, ac[k]))
    a, b, c = ac[k - 1], ac[k], ac[k + 1]
    denom = a - 2 * b + c
    shift = 0.5 * (a - c) / denom if abs(denom) > 1e-12 else 0.0
    lag = k + float(np.clip(shift, -0.5, 0.5))
    return float(60 * FRAME_RATE / lag), conf


def _tuning(freqs: np.ndarray, mags: np.ndarray) -> tuple[float, float]:
    ok = freqs > 0
    freqs, mags = freqs[ok], mags[ok]
    if freqs.size < 5:
        return 440.0, 0.0
    cents = 1200 * np.log2(freqs / 440.0)
    dev = (cents + 50) % 100 - 50
    ang = dev / 100 * 2 * np.pi
    w = mags / (mags.sum() + EPS)
    offset = float(np.angle(np.sum(w * np.exp(1j * ang))) / (2 * np.pi) * 100)
    resid = (dev - offset + 50) % 100 - 50
    return float(440.0 * 2 ** (offset / 1200)), float(np.sum(w * np.abs(resid)))


def _envelope(rms_db: np.ndarray) -> tuple[float, float, float]:
    env = 10 ** (rms_db / 20)
    a = algorithms()
    try:
        lat = float(a.attack(env.astype(np.float32))[0]) if env.size > 1 and env.max() > 0 else -3.0
    except RuntimeError:
        lat = -3.0
    peak = int(np.argmax(env))
    below = np.nonzero(rms_db[peak:] < rms_db[peak] - 20)[0]
    decay = (below[0] if below.size else len(rms_db) - peak) / FRAME_RATE
    t = np.arange(env.size)
    tc = float((env @ t) / (env.sum() + EPS) / max(env.size, 1))
    return max(lat, -3.0), float(decay), tc


def aggregate(fd: FrameData, lo: int, hi: int, loud: tuple[KHops, int, int | None],
              mono: np.ndarray) -> dict[str, Any]:
    """Named features over frames [lo, hi), the matching loudness hops and 44.1 kHz mono samples."""
    a = algorithms()
    a.reset()  # a segment's features must not depend on the segment or file analysed before it
    sl = slice(lo, hi)
    active = fd.rms_db[sl] >= SILENCE_DB
    if not active.any():
        active = np.ones(hi - lo, dtype=bool)
    out: dict[str, Any] = {}
    mf = fd.mfcc[sl][active][:, 1:]
    dm = np.diff(fd.mfcc[sl][:, 1:], axis=0) if hi - lo > 1 else np.zeros((1, 12))
    for stat, vals in (("mean", mf.mean(axis=0)), ("std", mf.std(axis=0)), ("dstd", dm.std(axis=0))):
        out.update({f"mfcc_{stat}_{i + 1}": float(v) for i, v in enumerate(vals)})
    bark = fd.bark[sl][active].mean(axis=0)
    bark_db = 10 * np.log10(bark / (bark.sum() + EPS) + 1e-8)
    for i in range(27):
        out[f"bark_{i + 1}"] = float(bark_db[i])
    sh = {k: v[sl][active] for k, v in fd.shape.items()}
    out["spectral_centroid_mean"] = float(sh["centroid"].mean())
    out["spectral_centroid_std"] = float(sh["centroid"].std())
    out["spectral_spread_mean"] = float(sh["spread"].mean())
    out["spectral_skewness_mean"] = float(sh["skew"].mean())
    out["spectral_kurtosis_mean"] = float(np.log1p(np.maximum(sh["kurt"], -0.99)).mean())
    out["spectral_flatness_mean"] = float(sh["flat"].mean())
    out["spectral_rolloff_mean"] = float(sh["rolloff"].mean())
    out["zero_crossing_rate_mean"] = float(fd.zcr[sl][active].mean())
    psl = (fd.peak_frames >= lo) & (fd.peak_frames < hi)
    pact = psl & (fd.rms_db[fd.peak_frames] >= SILENCE_DB)
    if not pact.any():
        pact = psl
    con, val = fd.contrast[pact].mean(axis=0), fd.valley[pact].mean(axis=0)
    for i in range(6):
        out[f"spectral_contrast_{i + 1}"] = float(con[i])
        out[f"spectral_valley_{i + 1}"] = float(val[i])
    # dynamics
    integ, lra = loudness_of(*loud)
    out["loudness_integrated"] = integ
    out["loudness_range"] = lra
    try:
        # DynamicComplexity copies its whole input (4 bytes a sample): on a file, the largest single need
        out["dynamic_complexity"] = float(a.dyncomp(mono)[0]) if mono.size > TARGET_SR // 5 else 0.0
    except RuntimeError:
        out["dynamic_complexity"] = 0.0
    lat, decay, tc = _envelope(fd.rms_db[sl])
    out["log_attack_time"], out["decay_time"], out["temporal_centroid"] = lat, decay, tc
    out["rms_std_db"] = float(np.clip(fd.rms_db[sl], -100, 0).std())
    # rhythm
    flux, hfc = fd.flux[sl], fd.hfc[sl]
    dur = (hi - lo) / FRAME_RATE
    onset_times = np.zeros(0)
    if hi - lo > 4:
        odf = np.vstack([flux / (flux.max() + EPS), hfc / (hfc.max() + EPS)]).astype(np.float32)
        try:
            onset_times = np.asarray(a.onsets(odf, [1.0, 1.0]))
        except RuntimeError:
            onset_times = np.zeros(0)
    out["onset_rate"] = float(len(onset_times) / max(dur, 1e-3))
    out["bpm"], out["bpm_confidence"] = _tempo(flux)
    idx = np.clip((onset_times * FRAME_RATE).astype(int), 0, max(len(flux) - 1, 0))
    med = float(np.median(flux)) + EPS
    out["beat_strength"] = float(np.clip(flux[idx].mean() / med, 0, 50)) if idx.size else 0.0
    # tonal
    h36 = fd.hpcp[pact].mean(axis=0)
    key, scale, strength = "C", "major", 0.0
    if h36.sum() > 0:
        with contextlib.suppress(RuntimeError):  # Key refuses degenerate profiles; keep the neutral answer
            key, scale, strength, _ = a.key(h36.astype(np.float32))
    h12 = h36.reshape(12, 3).sum(axis=1)
    # HPCP bin 0 is A at referenceFrequency=440: shift so bin 0 is C, then to the tonic
    h12 = np.roll(h12, -3)
    tonic = KEYS.index(key) if key in KEYS else 0
    rel = np.roll(h12, -tonic)
    rel = rel / (rel.sum() + EPS)
    for i in range(12):
        out[f"hpcp_rel_{i + 1}"] = float(rel[i])
    out["key_strength"] = float(strength)
    out["scale_major"] = 1.0 if scale == "major" else 0.0
    out["key"], out["scale"] = key, scale
    pidx = np.nonzero(psl)[0]  # peak frames of [lo, hi): one run of consecutive indices
    p0, p1 = (int(fd.peak_offsets[pidx[0]]), int(fd.peak_offsets[pidx[-1] + 1])) if pidx.size else (0, 0)
    tf, tdev = _tuning(fd.peak_freqs[p0:p1], fd.peak_mags[p0:p1])
    out["tuning_frequency"], out["tuning_deviation_cents"] = tf, tdev
    p = h12 / (h12.sum() + EPS)
    out["pitch_class_entropy"] = float(-(p[p > 0] * np.log2(p[p > 0])).sum()) if h12.sum() > 0 else 0.0
    psel = (fd.pitch_frames >= lo) & (fd.pitch_frames < hi)
    sal = fd.salience[psel]
    out["pitch_salience"] = float(sal.mean()) if sal.size else 0.0
    conf_ok = psel & (fd.pitch_conf > 0.5) & (fd.pitch > 20)
    out["pitch_median"] = float(np.log2(np.median(fd.pitch[conf_ok]))) if conf_ok.any() else 0.0
    inh = fd.inharm[psel]
    inh = inh[np.isfinite(inh)]
    out["inharmonicity"] = float(inh.mean()) if inh.size else 0.0
    out.update(envelope_shape(fd, lo, hi))
    out.update(harmonic_shape(fd, lo, hi))
    for k, v in out.items():
        if isinstance(v, float) and not math.isfinite(v):
            out[k] = 0.0
    return out


def _abs_max(x: np.ndarray) -> float:
    """max |x| without a temporary copy of x."""
    return max(float(x.max()), -float(x.min())) if x.size else 0.0


def quality(fd: FrameData, lo: int, hi: int, dec: Decoded, samples: np.ndarray,
            clipped_ratio: float | None = None, dc: float | None = None) -> dict[str, Any]:
    rms_db = fd.rms_db[lo:hi]
    dur = samples.shape[0] / TARGET_SR
    silence = float(np.mean(rms_db < SILENCE_DB)) if rms_db.size else 1.0
    nonzero = rms_db[rms_db > -150]
    floor = float(np.percentile(nonzero, 10)) if nonzero.size else -120.0
    top = float(np.percentile(nonzero, 95)) if nonzero.size else -120.0
    peak = float(20 * np.log10(_abs_max(samples) + EPS)) if samples.size else -120.0
    act = rms_db >= SILENCE_DB
    spec_snr = float(np.median(fd.spectral_snr_db[lo:hi][act])) if act.any() else 0.0
    # level spread catches noise between events; the spectral estimate catches steady tones
    snr = max(top - floor, spec_snr, 0.0)
    q: dict[str, Any] = {
        "duration": round(dur, 4),
        "sample_rate": dec.source_sample_rate,
        "channels": dec.channels,
        "silence_ratio": round(silence, 4),
        "clipping_ratio": (clipped_ratio if clipped_ratio is not None
                           else float(np.mean(np.abs(samples) >= 0.999)) if samples.size else 0.0),
        "dc_offset": dc if dc is not None else float(samples.mean()) if samples.size else 0.0,
        "noise_floor_db": round(max(floor, -120.0), 2),
        "snr_db": round(snr, 2),
        "peak_db": round(max(peak, -120.0), 2),
    }
    flags = []
    if silence > 0.9:
        flags.append("silent")
    elif silence > 0.5:
        flags.append("mostly_silent")
    if q["clipping_ratio"] > 0.001:
        flags.append("clipped")
    if abs(q["dc_offset"]) > 0.01:
        flags.append("dc_offset")
    if dur > 2 and q["snr_db"] < 12:
        flags.append("noisy")
    if dur < 0.5:
        flags.append("too_short")
    if dec.channels == 1:
        flags.append("mono")
    if dec.source_sample_rate < 22050:
        flags.append("low_sample_rate")
    q["flags"] = flags
    return q


def vector_of(feats: dict[str, Any]) -> np.ndarray:
    return np.asarray([float(feats[n]) for n in FEATURE_NAMES], dtype=np.float32)


def extract(dec: Decoded, segment_seconds: float = 30.0, segment_min_duration: float = 60.0,
            fingerprint: bool = True) -> FeaturesOut:
    """All features, quality flags and segments of one decoded recording."""
    peak = _abs_max(dec.mono)
    if peak < 10 ** (-80 / 20):
        raise FeatureError("silent: the whole file is below -80 dBFS")
    fd = frame_data(dec.mono)
    n = fd.n
    src = dec.source_sample_rate
    kh = dec.khops  # K-weighted while decoding, once for the file and all its segments
    feats = aggregate(fd, 0, n, (kh, 0, None), dec.mono)
    # clipping and DC of the whole file are measured on the original samples, before resampling
    q = quality(fd, 0, n, dec, dec.mono, dec.peak_ratio_clipped, dec.dc_offset)
    segments: list[SegmentOut] = []
    if dec.duration >= segment_min_duration:
        seg_frames = round(segment_seconds * FRAME_RATE)
        bounds = [*range(0, n, seg_frames), n]
        # the last window ends with the recording: a tail of at least a third of a window (10 s of 30 s)
        # is a segment of its own, a shorter one joins the window before it, so every second is covered
        if len(bounds) > 2 and dec.mono.shape[0] - bounds[-2] * HS < segment_seconds / 3 * TARGET_SR:
            del bounds[-2]
        for lo, hi in itertools.pairwise(bounds):
            s0, s1 = lo * HS, min(dec.mono.shape[0], hi * HS + FS)
            c0, c1 = s0 * src // TARGET_SR, s1 * src // TARGET_SR
            sf = aggregate(fd, lo, hi, (kh, c0 // kh.hop, c1 // kh.hop), dec.mono[s0:s1])
            sq = quality(fd, lo, hi, dec, dec.mono[s0:s1])
            segments.append(SegmentOut(start=round(s0 / TARGET_SR, 3), end=round(s1 / TARGET_SR, 3),
                                       features=sf, quality=sq, vector=vector_of(sf)))
    fp = None
    # Chromaprint needs several seconds of audio: on short sounds it yields near-identical strings
    # for unrelated files, so it would link false duplicates.
    if fingerprint and dec.duration >= FINGERPRINT_MIN_SECONDS:
        try:
            # Chromaprinter reads only its first maxLength seconds, yet copies all it is given (~7 bytes
            # a sample): hand it just those seconds, for the same fingerprint
            fp = str(algorithms().chroma(dec.mono[: CHROMA_SECONDS * TARGET_SR]))
        except RuntimeError:
            fp = None  # too short for a fingerprint: dedupe by md5 only
    return FeaturesOut(
        extractor_version=EXTRACTOR_VERSION, duration=dec.duration, sample_rate=dec.source_sample_rate,
        channels=dec.channels, features=feats, quality=q, vector=vector_of(feats), fingerprint=fp,
        segments=segments,
    )
