"""Decode audio once, through one function, with a fallback between essentia and libsndfile.

essentia (FFmpeg inside) cannot read Opus and rejects some files that
libsndfile reads, and the other way round; what neither can read is an error
with both reasons recorded.

libsndfile's files are read in blocks of a few seconds: each block is folded
to mono, checked, measured (clipping, DC) and K-weighted for loudness at once,
so the whole multichannel signal is never held in memory, only its 44.1 kHz
mono mix (4 bytes per sample) and 100 ms loudness energies.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import sosfilt

from tessera.indexer.errors import DecodeError
from tessera.indexer.loudness import KHops, _k_weighting

log = logging.getLogger(__name__)

TARGET_SR = 44100
BLOCK_HOPS = 240  # loudness hops (100 ms) per block read from the decoder: 24 s of channels held at once


@dataclass
class Decoded:
    khops: KHops  # K-weighted energy per 100 ms hop at the source rate, for loudness (BS.1770 any rate)
    mono: np.ndarray  # float32 (n,) at TARGET_SR, for everything else
    source_sample_rate: int
    channels: int
    duration: float  # seconds
    peak_ratio_clipped: float  # fraction of samples at full scale, measured before resampling
    dc_offset: float
    decoder: str


class _Blocks:
    """What decoding keeps of the channels, accumulated one block at a time (blocks are whole loudness hops)."""

    def __init__(self, sr: int, width: int, expected_frames: int) -> None:
        self.sr, self.width = sr, width
        self.hop = round(0.1 * sr)
        # both K-weighting biquads as second-order sections, as loudness.k_hops filters them
        self.sos = np.array([np.concatenate([b, a]) for b, a in _k_weighting(sr)], dtype=np.float32)
        self.zi = np.zeros((self.sos.shape[0], 2, width), np.float32)
        # the header's frame count, when it has one: filled in place, so the mono mix is never copied
        self.mono = np.empty(max(expected_frames, 0), np.float32)
        self.extra: list[np.ndarray] = []
        self.n = 0
        self.clipped = 0
        self.total = 0.0
        self.hops: list[np.ndarray] = []
        self.energy = 0.0
        self.pending = np.zeros((0, width), np.float32)  # K-weighted squares short of a whole hop

    def add(self, block: np.ndarray) -> None:
        if block.shape[0] == 0:
            return
        if not np.all(np.isfinite(block)):
            raise DecodeError("decoded samples contain NaN or infinity")
        self.clipped += int(np.count_nonzero(np.abs(block) >= 0.999))
        self.total += float(np.sum(block, dtype=np.float64))
        mono = block[:, 0] if block.shape[1] == 1 else block.mean(axis=1)
        k = mono.shape[0]
        room = max(0, min(k, self.mono.shape[0] - self.n))
        self.mono[self.n: self.n + room] = mono[:room]
        if room < k:
            self.extra.append(np.array(mono[room:], dtype=np.float32))
        self.n += k
        # both biquads in one second-order-sections pass, its state carried from block to block
        y, self.zi = sosfilt(self.sos, block, axis=0, zi=self.zi)
        z = y * y
        self.energy += float(z.sum(dtype=np.float64))
        if self.pending.shape[0]:
            z = np.concatenate([self.pending, z])
        m = z.shape[0] // self.hop
        self.hops.append(z[: m * self.hop].reshape(m, self.hop, z.shape[1]).sum(axis=(1, 2), dtype=np.float64))
        self.pending = z[m * self.hop:]

    def mono_mix(self) -> np.ndarray:
        if self.extra:
            return np.concatenate([self.mono[: self.n - sum(e.size for e in self.extra)], *self.extra])
        return self.mono[: self.n]

    def khops(self) -> KHops:
        hops = np.concatenate(self.hops) if self.hops else np.zeros(0)
        return KHops(hops, self.hop, self.energy, self.n)


def _slices(audio: np.ndarray, step: int) -> Iterator[np.ndarray]:
    for a in range(0, audio.shape[0], step):
        yield audio[a: a + step]


def _resample(x: np.ndarray, sr: int) -> np.ndarray:
    """Polyphase resampling to 44.1 kHz: ~14x cheaper than essentia's Resample at quality 1."""
    if sr == TARGET_SR:
        return x
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(TARGET_SR, sr)
    return np.asarray(resample_poly(x, TARGET_SR // g, sr // g), dtype=np.float32)


def _with_essentia(path: str) -> tuple[_Blocks, int, int]:
    import essentia.standard as es

    audio, sr, channels, _md5, _br, _codec = es.AudioLoader(filename=path, computeMD5=False)()
    audio = np.asarray(audio, dtype=np.float32)
    if int(channels) == 1 and audio.ndim == 2:
        # AudioLoader returns mono as (left, silent right): keep the one real channel
        audio = np.ascontiguousarray(audio[:, :1])
    if audio.ndim != 2 or audio.shape[0] == 0 or int(sr) <= 0:
        raise ValueError("no samples decoded")
    blocks = _Blocks(int(sr), audio.shape[1], audio.shape[0])
    for part in _slices(audio, BLOCK_HOPS * blocks.hop):
        blocks.add(part)
    return blocks, int(sr), int(channels)


class TooLong(Exception):
    """Raised from a header, so that no decoder tries to read the whole thing."""


def _too_long(seconds: float, max_seconds: float) -> str:
    return f"too long: {seconds:.0f} s exceeds the limit of {max_seconds:.0f} s"


def _with_soundfile(path: str, max_seconds: float | None = None) -> tuple[_Blocks, int, int]:
    import soundfile as sf

    with sf.SoundFile(path) as f:
        sr, channels, frames = int(f.samplerate), int(f.channels), int(f.frames)
        if sr <= 0:
            raise ValueError("no sample rate in the header")
        # refuse from the header, before allocating: a crafted header can claim days of audio
        if max_seconds is not None and frames / sr > max_seconds:
            raise TooLong(_too_long(frames / sr, max_seconds))
        limit = (max_seconds if max_seconds is not None else 24 * 3600.0) * sr
        # surround: loudness weighting of the rear channels is out of scope; fold to stereo equally
        blocks = _Blocks(sr, min(channels, 2), frames if 0 < frames <= limit else 0)
        step = BLOCK_HOPS * blocks.hop
        while True:
            data = f.read(step, dtype="float32", always_2d=True)
            if data.shape[0] == 0:
                break
            if channels > 2:
                data = np.repeat(data.mean(axis=1, keepdims=True), 2, axis=1)
            blocks.add(np.ascontiguousarray(data, dtype=np.float32))
            if max_seconds is not None and blocks.n > max_seconds * sr:
                raise TooLong(_too_long(blocks.n / sr, max_seconds))  # the header understated the length
            if data.shape[0] < step:
                break
    return blocks, sr, channels


def decode(path: str | Path, max_seconds: float | None = None) -> Decoded:
    """Decode any supported file to 44.1 kHz float32; raise DecodeError with every reason on failure."""
    p = str(path)
    if not Path(p).is_file():
        raise DecodeError(f"file not found: {p}")
    if Path(p).stat().st_size == 0:
        raise DecodeError("zero-length file")
    reasons: list[str] = []
    blocks: _Blocks | None = None
    sr = channels = 0
    decoder = ""
    # libsndfile first: it opens wav/flac/ogg/opus/aiff/mp3 in ~1 ms where building an essentia
    # AudioLoader costs ~5 ms per file; essentia's FFmpeg takes what libsndfile cannot (m4a, odd mp3s).
    order = ("soundfile", "essentia")
    for name in order:
        try:
            blocks, sr, channels = _with_essentia(p) if name == "essentia" else _with_soundfile(p, max_seconds)
            if blocks.n == 0:
                raise ValueError("no samples decoded")
            decoder = name
            break
        except TooLong as exc:
            raise DecodeError(str(exc)) from exc
        except DecodeError:
            raise  # the samples were read, and they are unusable (NaN or infinity)
        except Exception as exc:  # both libraries raise a variety of types for bad input
            reasons.append(f"{name}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")
            blocks = None
    if blocks is None:
        raise DecodeError("cannot decode: " + "; ".join(reasons), reasons=reasons)
    duration = blocks.n / sr
    if max_seconds is not None and duration > max_seconds:
        raise DecodeError(_too_long(duration, max_seconds))
    values = blocks.n * blocks.width
    clipped = blocks.clipped / values
    dc = blocks.total / values
    mono = np.ascontiguousarray(_resample(blocks.mono_mix(), sr), dtype=np.float32)
    return Decoded(blocks.khops(), mono, sr, channels, duration, clipped, dc, decoder)


def _wav_claimed_frames(path: str) -> int | None:
    """Frames the RIFF ``data`` chunk claims. libsndfile clamps a cut-short WAV to what is on disk,
    so its frame count cannot reveal truncation; the chunk header still says how long it was."""
    import struct

    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            block_align = 0
            while True:
                ch = fh.read(8)
                if len(ch) < 8:
                    return None
                cid, size = ch[:4], struct.unpack("<I", ch[4:])[0]
                if cid == b"fmt ":
                    fmt = fh.read(min(size, 16))
                    if len(fmt) < 14:
                        return None
                    block_align = struct.unpack("<H", fmt[12:14])[0]
                    fh.seek(size - len(fmt) + (size & 1), 1)
                elif cid == b"data":
                    # 0 and 0xFFFFFFFF are placeholders written by streaming encoders: no claim
                    if block_align <= 0 or size in (0, 0xFFFFFFFF):
                        return None
                    return int(size // block_align)
                else:
                    fh.seek(size + (size & 1), 1)
    except OSError:
        return None


@dataclass
class HeaderInfo:
    duration: float  # seconds the header claims
    sample_rate: int
    channels: int


def header_info(path: str | Path) -> HeaderInfo | None:
    """What the file's header claims, without decoding; None when libsndfile cannot read the header."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception:  # libsndfile raises RuntimeError/LibsndfileError for unsupported headers
        return None
    if info.samplerate <= 0:
        return None
    frames = info.frames
    if str(info.format).upper() == "WAV":
        frames = max(frames, _wav_claimed_frames(str(path)) or 0)
    return HeaderInfo(frames / info.samplerate, int(info.samplerate), int(info.channels))


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
            head = header_info(path)  # a WAV's own claim, which the indexer checks the decoded length against
            dur = head.duration if head is not None else info.frames / info.samplerate
            return AudioInfo(dur, int(info.samplerate), int(info.channels), str(info.format).lower())
    except Exception as exc:  # libsndfile raises RuntimeError/LibsndfileError for unsupported headers
        log.debug("soundfile cannot read header of %s: %s", path, exc)
    d = decode(path)
    return AudioInfo(d.duration, d.source_sample_rate, d.channels, Path(path).suffix.lstrip(".").lower())
