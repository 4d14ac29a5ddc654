"""Feature extraction: one pass over the frames, aggregated per file and per segment.

Frame-level essentia algorithms run once per frame; file and segment
statistics are cheap aggregations over slices of those frame arrays, so
segmenting a long recording costs almost nothing extra.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import fft as scipy_fft

from tessera.indexer.decode import TARGET_SR, Decoded
from tessera.indexer.dictionary import EXTRACTOR_VERSION, FEATURE_NAMES
from tessera.indexer.errors import FeatureError
from tessera.indexer.loudness import KHops, loudness_of
from tessera.indexer.store import FeaturesOut, SegmentOut

FS, HS = 2048, 1024
FRAME_RATE = TARGET_SR / HS
PITCH_EVERY = 4  # pitch, salience and inharmonicity change slowly: every 4th frame is enough
PEAKS_EVERY = 2  # spectral peaks and HPCP on every 2nd frame
CONTRAST_EVERY = 2  # spectral contrast on every 2nd of those
CONTRAST_BOUND = 50.0
EPS = 1e-10
KEYS = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
SILENCE_DB = -60.0
FINGERPRINT_MIN_SECONDS = 10.0
CHROMA_SECONDS = 120  # the fingerprint covers the first two minutes


@dataclass
class FrameData:
    """Compact per-frame descriptors of one recording: what file and segment statistics need, no spectra.

    The magnitude spectra are computed BLOCK_FRAMES frames at a time and dropped once every descriptor
    of their frames is known, so memory grows by ~0.5 kB per frame (~20 kB per second of audio), not by
    the ~4 kB of a frame's spectrum.
    """

    n: int  # frames
    shape: dict[str, np.ndarray]  # per-frame spectral shape
    rms_db: np.ndarray
    zcr: np.ndarray
    mfcc: np.ndarray  # (n, 13)
    bark: np.ndarray  # (n, 27)
    peak_frames: np.ndarray  # frame indices of contrast, valley, hpcp and peaks
    contrast: np.ndarray  # (len(peak_frames), 6)
    valley: np.ndarray
    hpcp: np.ndarray  # (len(peak_frames), 36)
    peak_freqs: np.ndarray  # spectral peaks of every peak frame, one after the other
    peak_mags: np.ndarray
    peak_offsets: np.ndarray  # (len(peak_frames) + 1,): peaks of peak frame j are [offsets[j], offsets[j + 1])
    pitch_frames: np.ndarray  # frame indices where pitch was computed
    pitch: np.ndarray
    pitch_conf: np.ndarray
    salience: np.ndarray
    inharm: np.ndarray  # NaN where not pitched
    flux: np.ndarray
    hfc: np.ndarray
    spectral_snr_db: np.ndarray  # per frame: total power over the median bin's share


class _Algorithms:
    """essentia algorithm instances are costly to configure: build them once per process."""

    def __init__(self) -> None:
        import essentia
        import essentia.standard as es

        essentia.log.infoActive = False
        essentia.log.warningActive = False
        self.es = es
        # MelBands, BarkBands and DCT are linear maps of the power spectrum: read their matrices off
        # essentia once (unit impulses) and apply them to all frames at once. Same numbers as essentia's
        # MFCC (dbamp log, DCT-II), without a Python call per frame.
        eye = np.eye(FS // 2 + 1, dtype=np.float32)
        mel = es.MelBands(inputSize=FS // 2 + 1, sampleRate=TARGET_SR, numberBands=40, highFrequencyBound=11025,
                          type="power", log=False, normalize="unit_sum", warpingFormula="htkMel",
                          weighting="warping")
        self.mel_w = np.array([mel(row) for row in eye], dtype=np.float32).T
        bark = es.BarkBands(sampleRate=TARGET_SR, numberBands=27)
        self.bark_w = np.array([bark(row) for row in eye], dtype=np.float32).T
        dct = es.DCT(inputSize=40, outputSize=13, dctType=2)
        self.dct = np.array([dct(row) for row in np.eye(40, dtype=np.float32)], dtype=np.float32).T
        self.contrast = es.SpectralContrast(frameSize=FS, sampleRate=TARGET_SR, numberBands=6, lowFrequencyBound=200,
                                            highFrequencyBound=11000)
        self.peaks = es.SpectralPeaks(sampleRate=TARGET_SR, maxPeaks=30, magnitudeThreshold=1e-5,
                                      minFrequency=40, maxFrequency=5000, orderBy="magnitude")
        self.hpcp = es.HPCP(size=36, sampleRate=TARGET_SR, referenceFrequency=440, minFrequency=40,
                            maxFrequency=5000, harmonics=4, weightType="cosine", nonLinear=False,
                            normalized="unitSum")
        self.pitch = es.PitchYinFFT(frameSize=FS, sampleRate=TARGET_SR)
        self.salience = es.PitchSalience(sampleRate=TARGET_SR)
        self.harmonic = es.HarmonicPeaks()
        self.inharm = es.Inharmonicity()
        self.key = es.Key(profileType="bgate", numHarmonics=4, pcpSize=36, slope=0.6, usePolyphony=True,
                          useThreeChords=True)
        self.onsets = es.Onsets(frameRate=FRAME_RATE)
        self.dyncomp = es.DynamicComplexity(sampleRate=TARGET_SR)
        self.attack = es.LogAttackTime(sampleRate=FRAME_RATE, startAttackThreshold=0.2, stopAttackThreshold=0.9)
        self.chroma = es.Chromaprinter(sampleRate=TARGET_SR, maxLength=CHROMA_SECONDS)


_ALGS: _Algorithms | None = None


def algorithms() -> _Algorithms:
    global _ALGS
    if _ALGS is None:
        _ALGS = _Algorithms()
    return _ALGS


def n_frames(samples: int) -> int:
    """Frames of FS samples every HS samples in a signal of this length (at least one, zero-padded)."""
    return max(1, 1 + (samples - FS) // HS) if samples >= FS else 1


def magnitudes(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Magnitude spectra (float32, (hi - lo, FS//2+1)) of frames [lo, hi) of the 44.1 kHz mono signal x."""
    seg = np.asarray(x[lo * HS: (hi - 1) * HS + FS], dtype=np.float32)
    if seg.shape[0] < (hi - lo - 1) * HS + FS:
        seg = np.pad(seg, (0, (hi - lo - 1) * HS + FS - seg.shape[0]))
    seg = np.ascontiguousarray(seg)
    fr = np.lib.stride_tricks.as_strided(seg, shape=(hi - lo, FS), strides=(seg.strides[0] * HS, seg.strides[0]))
    # essentia's Spectrum scales like this too (magnitude of an rfft of the windowed frame)
    # scipy's pocketfft vectorises float32 transforms across frames: ~4x faster than numpy's, same values
    return np.abs(scipy_fft.rfft(fr * np.hanning(FS).astype(np.float32), axis=1)).astype(np.float32)


# frames analysed at once (~24 s): their spectra (~4 kB a frame and a few temporaries) are the only
# memory that scales with the block rather than the file. A multiple of PEAKS_EVERY * CONTRAST_EVERY
# and of PITCH_EVERY, so that every block starts on a frame where each subsampled algorithm runs.
BLOCK_FRAMES = 1024


def frame_data(mono: np.ndarray, block_frames: int = BLOCK_FRAMES) -> FrameData:
    """Per-frame descriptors, computed block by block; the same numbers as analysing all frames at once."""
    if block_frames % (PEAKS_EVERY * CONTRAST_EVERY) or block_frames % PITCH_EVERY:
        raise ValueError("block_frames must be a multiple of the subsampling steps")
    a = algorithms()
    x = np.ascontiguousarray(mono, dtype=np.float32)
    n = n_frames(x.shape[0])
    rms_db = np.zeros(n, np.float64)
    zcr = np.zeros(n, np.float64)
    mfcc = np.zeros((n, a.dct.shape[0]), np.float32)
    bark = np.zeros((n, a.bark_w.shape[0]), np.float32)
    flux = np.zeros(n, np.float32)
    hfc = np.zeros(n, np.float32)
    spec_snr = np.zeros(n, np.float32)
    shape: dict[str, np.ndarray] = {}
    peak_frames = np.arange(0, n, PEAKS_EVERY)
    contrast = np.zeros((len(peak_frames), 6), np.float32)
    valley = np.zeros((len(peak_frames), 6), np.float32)
    hpcp = np.zeros((len(peak_frames), 36), np.float32)
    pf_parts: list[np.ndarray] = []
    pm_parts: list[np.ndarray] = []
    counts = np.zeros(len(peak_frames), np.int64)
    pitch_frames = np.arange(0, n, PITCH_EVERY)
    pitch = np.zeros(len(pitch_frames), np.float32)
    pconf = np.zeros(len(pitch_frames), np.float32)
    sal = np.zeros(len(pitch_frames), np.float32)
    inh = np.full(len(pitch_frames), np.nan, np.float32)
    e_carry = 0.0  # running sum of squares up to the block's first sample, as one cumsum over the file would have
    prev_log: np.ndarray | None = None  # log spectrum of the frame before the block, for the flux
    bins = np.arange(FS // 2 + 1, dtype=np.float32)
    for lo in range(0, n, block_frames):
        hi = min(n, lo + block_frames)
        sl = slice(lo, hi)
        # frame RMS and zero-crossing rate from running sums over the signal: O(samples), not O(frames x FS)
        s0, s1 = lo * HS, (hi - 1) * HS + FS
        padded = np.zeros(s1 - s0, np.float64)
        got = x[s0: min(s1, x.shape[0])]
        padded[: got.shape[0]] = got
        starts = np.arange(hi - lo) * HS
        e = np.cumsum(np.concatenate([[e_carry], padded * padded]))
        e_carry = float(e[(hi - lo) * HS]) if hi < n else 0.0
        rms = np.sqrt(np.maximum(e[starts + FS] - e[starts], 0.0) / FS)
        rms_db[sl] = 20 * np.log10(rms + EPS)
        signs = np.signbit(padded)
        zc = np.concatenate([[0], np.cumsum(signs[1:] != signs[:-1])])
        zcr[sl] = (zc[starts + FS - 1] - zc[starts]) / (FS - 1)
        del padded, e, signs, zc
        mag = magnitudes(x, lo, hi)
        power = mag.astype(np.float32) ** 2
        mfcc[sl] = (a.dct @ (20 * np.log10(np.maximum(a.mel_w @ power.T, 1e-10)))).T
        bark[sl] = (a.bark_w @ power.T).T
        silent = rms_db < SILENCE_DB  # complete up to this block's last frame
        j_lo, j_hi = lo // PEAKS_EVERY, -(-hi // PEAKS_EVERY)
        pfs: list[np.ndarray] = []
        pms: list[np.ndarray] = []
        for j in range(j_lo, j_hi):
            i = int(peak_frames[j])
            spec = mag[i - lo]
            if silent[i]:
                # SpectralContrast overflows on (near-)silent frames; they are left out of every average
                pfs.append(np.zeros(0, np.float32))
                pms.append(np.zeros(0, np.float32))
                continue
            if j % CONTRAST_EVERY == 0 or j == 0 or silent[peak_frames[j - 1]]:
                contrast[j], valley[j] = a.contrast(spec)
            else:  # contrast changes slowly: reuse the last value, halving the cost of this algorithm
                contrast[j], valley[j] = contrast[j - 1], valley[j - 1]
            f, m = a.peaks(spec)
            pfs.append(f)
            pms.append(m)
            if f.size:
                hpcp[j] = a.hpcp(f, m)
        for j in range(-(-lo // PITCH_EVERY), -(-hi // PITCH_EVERY)):
            i = int(pitch_frames[j])
            if silent[i]:
                continue
            spec = mag[i - lo]
            pitch[j], pconf[j] = a.pitch(spec)
            sal[j] = a.salience(spec)
            k = i // PEAKS_EVERY - j_lo  # every pitch frame is a peak frame of this block
            if pconf[j] > 0.5 and pitch[j] > 0 and pfs[k].size:
                order = np.argsort(pfs[k])
                f, m = pfs[k][order], pms[k][order]
                f, m = f[f > 0], m[f > 0]
                if f.size:
                    try:
                        hf, hm = a.harmonic(f, m, float(pitch[j]))
                        if hf.size >= 2 and hf[0] > 0:
                            inh[j] = a.inharm(hf, hm)
                    except RuntimeError:
                        pass  # HarmonicPeaks refuses some peak sets; the frame simply has no value
        counts[j_lo:j_hi] = [f.size for f in pfs]
        pf_parts.append(np.concatenate(pfs).astype(np.float32) if pfs else np.zeros(0, np.float32))
        pm_parts.append(np.concatenate(pms).astype(np.float32) if pms else np.zeros(0, np.float32))
        del pfs, pms
        logmag = np.log1p(1000.0 * mag)
        diff = np.diff(logmag, axis=0, prepend=logmag[:1] if prev_log is None else prev_log)
        prev_log = logmag[-1:].copy()
        flux[sl] = np.maximum(diff, 0).sum(axis=1).astype(np.float32)
        del logmag, diff
        hfc[sl] = (power @ bins).astype(np.float32)
        # a tone or a mix of partials stands far above the median bin; broadband noise does not
        # FS//2+1 bins is odd: the median is the middle order statistic, and partition alone finds it (2x faster)
        mid = power.shape[1] // 2
        med = np.partition(power, mid, axis=1)[:, mid] * power.shape[1]
        spec_snr[sl] = 10 * np.log10((power.sum(axis=1) + EPS) / (med + EPS))
        for key, vals in _spectral_shape(mag, power).items():
            if key not in shape:
                shape[key] = np.zeros(n, vals.dtype)
            shape[key][sl] = vals
    # a band with (almost) no energy divides by ~0 inside SpectralContrast (values ~1e30 or NaN):
    # bound them so one empty band cannot dominate a file's statistics
    contrast = np.clip(np.nan_to_num(contrast), -CONTRAST_BOUND, CONTRAST_BOUND)
    valley = np.clip(np.nan_to_num(valley), -CONTRAST_BOUND, CONTRAST_BOUND)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    return FrameData(n, shape, rms_db, zcr, mfcc, bark, peak_frames, contrast, valley, hpcp,
                     np.concatenate(pf_parts), np.concatenate(pm_parts), offsets, pitch_frames, pitch, pconf, sal,
                     inh, flux, hfc, spec_snr)


def _spectral_shape(mag: np.ndarray, power: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame centroid, spread, skewness, kurtosis, flatness and roll-off (essentia's definitions)."""
    freqs = np.linspace(0, TARGET_SR / 2, mag.shape[1])
    m = mag.astype(np.float64)
    total = m.sum(axis=1) + EPS
    # raw moments by matrix products, then central moments: avoids (n, bins) temporaries per power
    r1, r2, r3, r4 = ((m @ freqs**k) / total for k in (1, 2, 3, 4))
    m2 = np.maximum(r2 - r1**2, 0)
    m3 = r3 - 3 * r1 * r2 + 2 * r1**3
    m4 = r4 - 4 * r1 * r3 + 6 * r1**2 * r2 - 3 * r1**4
    spread = np.sqrt(m2)
    skew = m3 / (m2**1.5 + EPS)
    kurt = m4 / (m2**2 + EPS) - 3.0
    # flatness and roll-off need no float64: power is float32 already
    gm = np.exp(np.mean(np.log(power + np.float32(EPS)), axis=1, dtype=np.float64))
    flat = gm / (power.mean(axis=1, dtype=np.float64) + EPS)
    cum = np.cumsum(power, axis=1)
    rolloff = freqs[np.argmax(cum >= 0.85 * cum[:, -1:], axis=1)]
    return {"centroid": r1, "spread": spread, "skew": skew, "kurt": kurt, "flat": flat, "rolloff": rolloff}


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
