"""Chromaprint fingerprints: decode essentia's compressed strings and compare them.

essentia's Chromaprinter returns chromaprint's compressed fingerprint as
URL-safe base64 without padding. Transcodes of one recording (FLAC, MP3,
Vorbis) give different strings but nearly the same 32-bit sub-fingerprints,
so duplicates are found by the bit error rate between the decoded arrays at
their best alignment, never by comparing strings.

Compressed layout (chromaprint's fingerprint_compressor.cpp): byte 0 is the
algorithm, bytes 1-3 the number of sub-fingerprints (big-endian); then, for
each sub-fingerprint XOR-ed with the previous one, the gaps between its set
bits as 3-bit values closed by a 0 (a 7 means "7 plus the next 5-bit
exception value"); then the 5-bit exception values. Both bit streams are
packed least significant bit first.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import numpy as np

NORMAL_BITS, EXCEPTION_BITS, MAX_NORMAL = 3, 5, 7
# chromaprint: 11025 Hz, 4096-sample frames with 2/3 overlap -> one sub-fingerprint every ~0.124 s
SECONDS_PER_ITEM = 4096 / 3 / 11025


class FingerprintFormatError(ValueError):
    """The string is not a chromaprint compressed fingerprint."""


def _unpack(data: bytes, nbits: int, count: int | None = None) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
    n = len(bits) // nbits if count is None else count
    if n * nbits > len(bits):
        raise FingerprintFormatError("fingerprint is cut short")
    packed = bits[: n * nbits].reshape(n, nbits).astype(np.int64)
    return np.asarray((packed << np.arange(nbits)).sum(axis=1), dtype=np.int64)


def decode_fingerprint(fp: str) -> tuple[int, np.ndarray]:
    """(algorithm, uint32 sub-fingerprints) of a compressed base64 chromaprint string."""
    try:
        raw = base64.urlsafe_b64decode(fp + "=" * (-len(fp) % 4))
    except (binascii.Error, ValueError) as exc:
        raise FingerprintFormatError(f"not base64: {exc}") from exc
    if len(raw) < 4:
        raise FingerprintFormatError("fingerprint header is cut short")
    algorithm, size = raw[0], int.from_bytes(raw[1:4], "big")
    if size == 0:
        return algorithm, np.zeros(0, dtype=np.uint32)
    body = raw[4:]
    normal = _unpack(body, NORMAL_BITS)
    ends = np.flatnonzero(normal == 0)
    if len(ends) < size:
        raise FingerprintFormatError(f"header claims {size} sub-fingerprints, found {len(ends)}")
    normal = normal[: ends[size - 1] + 1].copy()
    is_exc = normal == MAX_NORMAL
    exc_start = (len(normal) * NORMAL_BITS + 7) // 8
    normal[is_exc] += _unpack(body[exc_start:], EXCEPTION_BITS, int(is_exc.sum()))
    # gaps -> absolute bit positions within each sub-fingerprint: cumulative sum restarted after every 0
    item = np.concatenate([[0], np.cumsum(normal == 0)[:-1]])
    pos = np.cumsum(normal)
    starts = np.concatenate([[0], pos[ends[: size - 1]]])
    bitpos = pos - starts[item]
    if np.any(bitpos[normal != 0] > 32):
        raise FingerprintFormatError("bit position beyond 32")
    sel = normal != 0
    deltas = np.zeros(size, dtype=np.uint64)
    np.bitwise_or.at(deltas, item[sel], np.left_shift(np.uint64(1), (bitpos[sel] - 1).astype(np.uint64)))
    # each stored value is the XOR with the previous sub-fingerprint: undo it with a running XOR
    out = np.bitwise_xor.accumulate(deltas.astype(np.uint32))
    return int(algorithm), out


@dataclass(frozen=True)
class DuplicateParams:
    """When two fingerprints are the same recording (measured on real transcodes and unrelated audio)."""

    # FLAC -> MP3 128k / 64k: ~0.02, -> Vorbis q3: ~0.09; unrelated 25 s loop collages reach 0.27 at
    # their best offset, so 0.35 would link different recordings
    max_bit_error_rate: float = 0.2
    min_overlap: float = 0.8  # share of the shorter fingerprint that must be compared
    max_offset_seconds: float = 5.0  # leading silence trimmed or added by another archive or encoder
    # below ~10 s, velocity layers of one cymbal or decaying one-shots align with rates under 0.05:
    # chroma cannot tell them apart, so short files are linked by md5 only
    min_seconds: float = 10.0
    duration_tolerance: float = 0.05  # relative, plus duration_slack seconds
    duration_slack: float = 0.5

    def duration_window(self, duration: float) -> float:
        return self.duration_tolerance * duration + self.duration_slack


@dataclass(frozen=True)
class Match:
    bit_error_rate: float  # at the best offset, over the overlap
    offset: int  # b[i - offset] is compared with a[i]
    overlap: int  # sub-fingerprints compared


def best_alignment(a: np.ndarray, b: np.ndarray, min_overlap: float = 0.8,
                   max_offset: int | None = None) -> Match | None:
    """Lowest bit error rate over the offsets (up to ``max_offset``) that overlap at least ``min_overlap``
    of the shorter fingerprint. All offsets at once: one XOR and popcount over a sliding window."""
    a = np.asarray(a, dtype=np.uint32)
    b = np.asarray(b, dtype=np.uint32)
    if a.size == 0 or b.size == 0:
        return None
    need = max(1, int(np.ceil(min_overlap * min(a.size, b.size))))
    m = max(a.size, b.size) if max_offset is None else max_offset
    la = a.size
    # b padded so that window k of length len(a) is b shifted by offset m - k
    bp = np.concatenate([np.zeros(m, np.uint32), b, np.zeros(m + la, np.uint32)])
    vp = np.concatenate([np.zeros(m, bool), np.ones(b.size, bool), np.zeros(m + la, bool)])
    win = np.lib.stride_tricks.sliding_window_view(bp, la)[: 2 * m + 1]
    valid = np.lib.stride_tricks.sliding_window_view(vp, la)[: 2 * m + 1]
    errors = (np.bitwise_count(win ^ a[None, :]) * valid).sum(axis=1)
    overlap = valid.sum(axis=1)
    ok = overlap >= need
    if not ok.any():
        return None
    ber = np.where(ok, errors / (32.0 * np.maximum(overlap, 1)), np.inf)
    k = int(np.argmin(ber))
    return Match(float(ber[k]), m - k, int(overlap[k]))


def is_duplicate(a: np.ndarray, b: np.ndarray, params: DuplicateParams) -> bool:
    """Same recording: long enough, and aligned with few differing bits over most of the shorter one."""
    if min(a.size, b.size) * SECONDS_PER_ITEM < params.min_seconds - 2.0:
        # chromaprint yields ~8.07 items/s minus ~15 for its filters' span: 10 s of audio -> ~66 items
        return False
    m = best_alignment(a, b, params.min_overlap, max(1, round(params.max_offset_seconds / SECONDS_PER_ITEM)))
    return m is not None and m.bit_error_rate <= params.max_bit_error_rate


def find_duplicates(fingerprint: str, candidates: list[tuple[int, str]], params: DuplicateParams) -> list[int]:
    """Ids of the candidates whose fingerprint is the same recording as ``fingerprint``."""
    try:
        _, a = decode_fingerprint(fingerprint)
    except FingerprintFormatError:
        return []
    out = []
    for cid, other in candidates:
        try:
            _, b = decode_fingerprint(other)
        except FingerprintFormatError:
            continue  # a damaged stored fingerprint links nothing
        if is_duplicate(a, b, params):
            out.append(cid)
    return out
