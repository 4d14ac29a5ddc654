"""Short, light previews: the first seconds of a recording as mono 22.05 kHz Ogg Vorbis.

Previews stay open to everyone even where full-resolution audio needs a key, and they are what the
web app plays on hover. They are cached by item id so that a consent withdrawal can delete them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from tessera.indexer.decode import decode
from tessera.indexer.errors import DecodeError

PREVIEW_SECONDS = 20.0
PREVIEW_SR = 22050
_BLOCK = PREVIEW_SR * 2  # soundfile crashes writing long OGG in one call: write in 2 s blocks


def _head(path: Path, seconds: float) -> tuple[np.ndarray, int]:
    """The first ``seconds`` as mono float32 at the source rate; libsndfile reads only that much."""
    try:
        with sf.SoundFile(str(path)) as fh:
            sr = fh.samplerate
            x = fh.read(frames=int(seconds * sr), dtype="float32", always_2d=True)
            return x.mean(axis=1), sr
    except (sf.LibsndfileError, RuntimeError, TypeError):
        dec = decode(path)  # formats libsndfile cannot open (m4a …): essentia decodes the whole file
        return dec.mono[: int(seconds * 44100)], 44100


def preview_path(previews_dir: Path, file_id: int) -> Path:
    return previews_dir / f"{file_id}.ogg"


def make_preview(src: Path, dest: Path, seconds: float = PREVIEW_SECONDS) -> Path:
    """Write (atomically) and return the preview of ``src``; raise DecodeError if it cannot be read."""
    x, sr = _head(src, seconds)
    if x.size == 0:
        raise DecodeError("no audio to preview")
    g = np.gcd(int(sr), PREVIEW_SR)
    y = resample_poly(x, PREVIEW_SR // g, int(sr) // g).astype(np.float32) if sr != PREVIEW_SR else x
    fade = min(len(y), PREVIEW_SR // 10)  # a 100 ms fade-out: a cut mid-note clicks otherwise
    y[len(y) - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    y = np.clip(y, -1.0, 1.0)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(f".tmp{os.getpid()}.ogg")
    with sf.SoundFile(str(tmp), "w", samplerate=PREVIEW_SR, channels=1, format="OGG", subtype="VORBIS") as out:
        for i in range(0, len(y), _BLOCK):
            out.write(y[i:i + _BLOCK])
    tmp.replace(dest)
    return dest
