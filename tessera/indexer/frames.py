"""Frame-level analysis: one pass over the frames of a recording, kept as compact per-frame arrays.

Frame-level essentia algorithms run once per frame; file and segment
statistics (tessera.indexer.features) are cheap aggregations over slices of
these arrays, so segmenting a long recording costs almost nothing extra.
"""

from __future__ import annotations

import types
from dataclasses import dataclass

import numpy as np
from scipy import fft as scipy_fft

from tessera.indexer.decode import TARGET_SR

FS, HS = 2048, 1024
FRAME_RATE = TARGET_SR / HS
PITCH_EVERY = 4  # pitch, salience and inharmonicity change slowly: every 4th frame is enough
PEAKS_EVERY = 2  # spectral peaks and HPCP on every 2nd frame
CONTRAST_EVERY = 2  # spectral contrast on every 2nd of those
CONTRAST_BOUND = 50.0
EPS = 1e-10
KEYS = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
SILENCE_DB = -60.0
HARMONIC_PROFILE = 8  # harmonics whose levels describe the partials' envelope
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
    # harmonic descriptors of the pitch frames (NaN where not pitched): tristimulus, odd/even, centroid/f0
    tristimulus: np.ndarray  # (len(pitch_frames), 3)
    odd_even: np.ndarray
    harmonic_centroid: np.ndarray  # energy-weighted mean harmonic number
    harmonic_profile: np.ndarray  # (len(pitch_frames), HARMONIC_PROFILE): dB of harmonics 1.. rel. to the strongest


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
        self.tristimulus = es.Tristimulus()
        self.odd_even = es.OddToEvenHarmonicEnergyRatio()
        self.key = es.Key(profileType="bgate", numHarmonics=4, pcpSize=36, slope=0.6, usePolyphony=True,
                          useThreeChords=True)
        self.onsets = es.Onsets(frameRate=FRAME_RATE)
        self.dyncomp = es.DynamicComplexity(sampleRate=TARGET_SR)
        self.attack = es.LogAttackTime(sampleRate=FRAME_RATE, startAttackThreshold=0.2, stopAttackThreshold=0.9)
        self.chroma = es.Chromaprinter(sampleRate=TARGET_SR, maxLength=CHROMA_SECONDS)


    def reset(self) -> None:
        """Forget what each algorithm kept from its last input: Onsets keeps state, and a file's onset rate
        and beat strength came out twice as high when one particular file had been analysed before it in
        the same process (a Dask worker and the local pool see files in different orders)."""
        for alg in vars(self).values():
            if not isinstance(alg, types.ModuleType) and callable(reset := getattr(alg, "reset", None)):
                reset()


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
    a.reset()
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
    trist = np.full((len(pitch_frames), 3), np.nan, np.float32)
    oer = np.full(len(pitch_frames), np.nan, np.float32)
    hcen = np.full(len(pitch_frames), np.nan, np.float32)
    hprof = np.full((len(pitch_frames), HARMONIC_PROFILE), np.nan, np.float32)
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
                            # the same harmonic peaks give the pitch-normalised shape of the partials
                            trist[j] = a.tristimulus(hf, hm)
                            oer[j] = a.odd_even(hf, hm)
                            hp = hm * hm
                            hcen[j] = float((hp @ (hf / hf[0])) / (hp.sum() + EPS))
                            # the spectral envelope sampled at the harmonics: pitch-normalised by construction
                            top = hm[:HARMONIC_PROFILE]
                            hprof[j, : top.size] = 20 * np.log10(top / (hm.max() + EPS) + 1e-3)
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
                     inh, flux, hfc, spec_snr, trist, oer, hcen, hprof)


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
