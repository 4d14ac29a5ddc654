"""Decode audio once, through one function, with a fallback between essentia and libsndfile.

essentia (FFmpeg inside) cannot read Opus and rejects some files that
libsndfile reads, and the other way round; what neither can read is an error
with both reasons recorded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tessera.indexer.errors import DecodeError

log = logging.getLogger(__name__)

TARGET_SR = 44100


@dataclass
class Decoded:
    channel_audio: np.ndarray  # float32 (n, 1 or 2) at the source rate, for loudness (BS.1770 any rate)
    mono: np.ndarray  # float32 (n,) at TARGET_SR, for everything else
    source_sample_rate: int
    channels: int
    duration: float  # seconds
    peak_ratio_clipped: float  # fraction of samples at full scale, measured before resampling
    dc_offset: float
    decoder: str


def _resample(x: np.ndarray, sr: int) -> np.ndarray:
    """Polyphase resampling to 44.1 kHz: ~14x cheaper than essentia's Resample at quality 1."""
    if sr == TARGET_SR:
        return x
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(TARGET_SR, sr)
    return np.asarray(resample_poly(x, TARGET_SR // g, sr // g), dtype=np.float32)


def _with_essentia(path: str) -> tuple[np.ndarray, int, int]:
    import essentia.standard as es

    audio, sr, channels, _md5, _br, _codec = es.AudioLoader(filename=path, computeMD5=False)()
    audio = np.asarray(audio, dtype=np.float32)
    if int(channels) == 1 and audio.ndim == 2:
        # AudioLoader returns mono as (left, silent right): keep the one real channel
        audio = np.ascontiguousarray(audio[:, :1])
    return audio, int(sr), int(channels)


class TooLong(Exception):
    """Raised from a header, so that no decoder tries to read the whole thing."""


def _with_soundfile(path: str, max_seconds: float | None = None) -> tuple[np.ndarray, int, int]:
    import soundfile as sf

    if max_seconds is not None:
        # refuse from the header, before allocating: a crafted header can claim days of audio
        info = sf.info(path)
        if info.samplerate > 0 and info.frames / info.samplerate > max_seconds:
            raise TooLong(f"too long: {info.frames / info.samplerate:.0f} s exceeds the limit of {max_seconds:.0f} s")
    data, sr = sf.read(path, dtype="float32", always_2d=True)
    channels = data.shape[1]
    if channels > 2:
        # surround: loudness weighting of the rear channels is out of scope; fold to stereo equally
        m = data.mean(axis=1, keepdims=True)
        data = np.repeat(m, 2, axis=1)
    return np.ascontiguousarray(data, dtype=np.float32), int(sr), int(channels)


def decode(path: str | Path, max_seconds: float | None = None) -> Decoded:
    """Decode any supported file to 44.1 kHz float32; raise DecodeError with every reason on failure."""
    p = str(path)
    if not Path(p).is_file():
        raise DecodeError(f"file not found: {p}")
    if Path(p).stat().st_size == 0:
        raise DecodeError("zero-length file")
    reasons: list[str] = []
    audio: np.ndarray | None = None
    sr = channels = 0
    decoder = ""
    # libsndfile first: it opens wav/flac/ogg/opus/aiff/mp3 in ~1 ms where building an essentia
    # AudioLoader costs ~5 ms per file; essentia's FFmpeg takes what libsndfile cannot (m4a, odd mp3s).
    order = ("soundfile", "essentia")
    for name in order:
        try:
            audio, sr, channels = _with_essentia(p) if name == "essentia" else _with_soundfile(p, max_seconds)
            if audio.size == 0 or sr <= 0:
                raise ValueError("no samples decoded")
            decoder = name
            break
        except TooLong as exc:
            raise DecodeError(str(exc)) from exc
        except Exception as exc:  # both libraries raise a variety of types for bad input
            reasons.append(f"{name}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")
            audio = None
    if audio is None:
        raise DecodeError("cannot decode: " + "; ".join(reasons), reasons=reasons)
    duration = audio.shape[0] / sr
    if max_seconds is not None and duration > max_seconds:
        raise DecodeError(f"too long: {duration:.0f} s exceeds the limit of {max_seconds:.0f} s")
    if not np.all(np.isfinite(audio)):
        raise DecodeError("decoded samples contain NaN or infinity")
    clipped = float(np.mean(np.abs(audio) >= 0.999))
    dc = float(np.mean(audio))
    mono = audio[:, 0] if audio.shape[1] == 1 else audio.mean(axis=1)
    mono = np.ascontiguousarray(_resample(mono, sr), dtype=np.float32)
    return Decoded(np.ascontiguousarray(audio), mono, sr, channels, duration, clipped, dc, decoder)


@dataclass
class AudioInfo:
    duration: float | None
    sample_rate: int | None
    channels: int | None
    format: str | None


def probe(path: str | Path) -> AudioInfo:
    """Cheap header read for registration; falls back to a full decode when the header is unreadable."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
        if info.frames > 0 and info.samplerate > 0:
            return AudioInfo(info.frames / info.samplerate, int(info.samplerate), int(info.channels),
                             str(info.format).lower())
    except Exception as exc:  # libsndfile raises RuntimeError/LibsndfileError for unsupported headers
        log.debug("soundfile cannot read header of %s: %s", path, exc)
    d = decode(path)
    return AudioInfo(d.duration, d.source_sample_rate, d.channels, Path(path).suffix.lstrip(".").lower())
