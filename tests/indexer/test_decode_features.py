"""Real essentia on real audio."""

from pathlib import Path

import essentia.standard as es
import numpy as np
import pytest
import soundfile as sf

from tessera.indexer.decode import decode, probe
from tessera.indexer.dictionary import FEATURE_NAMES, FEATURES, markdown
from tessera.indexer.errors import DecodeError, FeatureError
from tessera.indexer.features import algorithms, extract, frame_data, magnitudes
from tessera.indexer.loudness import integrated_and_range, k_hops


def test_opus_is_read_by_libsndfile(corpus_dir: Path) -> None:
    d = decode(corpus_dir / "guit_em9.opus")
    assert d.decoder == "soundfile" and d.source_sample_rate == 48000
    assert d.duration > 1.0 and d.mono.dtype == np.float32
    assert len(d.mono) == pytest.approx(d.duration * 44100, abs=2)  # resampled for analysis


def test_what_libsndfile_cannot_read_falls_back_to_essentia(tmp_path: Path) -> None:
    # an AAC file in an MP4 container (made by ffmpeg from a real sample): libsndfile has no AAC decoder
    import shutil
    import subprocess

    if not shutil.which("ffmpeg"):
        pytest.fail("ffmpeg is missing: scripts/setup.sh installs it")
    src, dst = "/usr/share/sonic-pi/samples/guit_e_fifths.flac", tmp_path / "guit.m4a"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", src, "-c:a", "aac", str(dst)], check=True)
    d = decode(dst)
    assert d.decoder == "essentia" and d.duration > 1.0


def test_flac_is_read_by_libsndfile(corpus_dir: Path) -> None:
    d = decode(corpus_dir / "bd_haus.flac")
    assert d.decoder == "soundfile" and d.source_sample_rate == 44100


def test_unreadable_file_reports_both_decoders(corpus_dir: Path) -> None:
    with pytest.raises(DecodeError) as exc:
        decode(corpus_dir / "broken.wav")
    assert "essentia:" in exc.value.message and "soundfile:" in exc.value.message


def test_zero_length_and_missing(tmp_path: Path) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(DecodeError, match="zero-length"):
        decode(tmp_path / "empty.wav")
    with pytest.raises(DecodeError, match="not found"):
        decode(tmp_path / "nope.wav")


def test_probe_reads_headers(corpus_dir: Path) -> None:
    info = probe(corpus_dir / "long_mix.wav")
    assert info.sample_rate == 44100 and info.channels == 2 and info.duration == pytest.approx(76, abs=0.1)


def test_features_complete_and_finite(corpus_dir: Path) -> None:
    out = extract(decode(corpus_dir / "guit_e_fifths.flac"))
    assert out.vector.shape == (len(FEATURE_NAMES),)
    assert np.all(np.isfinite(out.vector))
    assert set(FEATURE_NAMES) <= set(out.features)
    assert out.features["key"] in {"C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"}
    # a guitar is pitched and close to the 12-TET grid; a kick drum is neither
    kick = extract(decode(corpus_dir / "bd_haus.flac"))
    assert out.features["pitch_salience"] > kick.features["pitch_salience"]
    assert out.features["spectral_centroid_mean"] > 0


def test_features_do_not_depend_on_the_file_analysed_before(corpus_dir: Path) -> None:
    # essentia's Onsets kept state between calls: after bd_haus, sn_dub's onset rate came out doubled
    # (a Dask worker and the local pool analyse files in different orders, so their vectors disagreed)
    alone = extract(decode(corpus_dir / "sn_dub.flac"))
    extract(decode(corpus_dir / "bd_haus.flac"))
    after = extract(decode(corpus_dir / "sn_dub.flac"))
    assert after.features == alone.features
    np.testing.assert_array_equal(after.vector, alone.vector)


def test_silent_file_is_refused(corpus_dir: Path) -> None:
    with pytest.raises(FeatureError, match="silent"):
        extract(decode(corpus_dir / "silence.wav"))


def test_quality_flags(tmp_path: Path) -> None:
    t = np.arange(44100 * 3) / 44100
    tone = 1.4 * np.sin(2 * np.pi * 220 * t)  # driven past full scale
    sf.write(tmp_path / "clipped.wav", np.clip(tone, -1, 1).astype(np.float32), 44100)
    q = extract(decode(tmp_path / "clipped.wav")).quality
    assert "clipped" in q["flags"] and "mono" in q["flags"]
    assert q["clipping_ratio"] > 0.1
    half = np.concatenate([0.5 * np.sin(2 * np.pi * 330 * t), np.zeros_like(t), np.zeros_like(t)])
    sf.write(tmp_path / "gappy.wav", half.astype(np.float32), 44100)
    q2 = extract(decode(tmp_path / "gappy.wav")).quality
    assert q2["silence_ratio"] == pytest.approx(2 / 3, abs=0.05)
    assert "mostly_silent" in q2["flags"]


def test_long_recordings_are_segmented(corpus_dir: Path) -> None:
    out = extract(decode(corpus_dir / "long_mix.wav"), segment_seconds=30, segment_min_duration=60)
    assert [round(s.start) for s in out.segments] == [0, 30, 60]
    assert all(s.vector.shape == out.vector.shape for s in out.segments)
    # the drum-loop segment has more onsets and a clearer pulse than the drone segment
    drums, drone = out.segments[0].features, out.segments[2].features
    assert drums["onset_rate"] > 2 * drone["onset_rate"]
    assert drums["bpm_confidence"] > drone["bpm_confidence"]
    assert out.fingerprint


def test_long_recordings_are_covered_to_the_end(tmp_path: Path, sonic_pi: Path) -> None:
    # 20 s windows: a tail of at least a third of one (6.7 s) is a segment, a shorter one joins the last window
    x, sr = sf.read(sonic_pi / "loop_amen_full.flac", always_2d=True, dtype="float32")
    for seconds, starts in ((70.0, [0, 20, 40, 60]), (65.0, [0, 20, 40])):
        n = int(seconds * sr)
        sf.write(tmp_path / "r.wav", np.tile(x, (int(np.ceil(n / len(x))), 1))[:n], sr)
        out = extract(decode(tmp_path / "r.wav"), segment_seconds=20, segment_min_duration=60, fingerprint=False)
        assert [round(s.start) for s in out.segments] == starts, seconds
        assert out.segments[-1].end == pytest.approx(seconds, abs=1e-3)
        assert all(np.isfinite(s.vector).all() for s in out.segments)


def test_block_by_block_frames_match_all_at_once(corpus_dir: Path) -> None:
    # spectra are computed a block of frames at a time: blocks must not change any frame's descriptors
    d = decode(corpus_dir / "long_mix.wav")
    small, whole = frame_data(d.mono, block_frames=200), frame_data(d.mono, block_frames=1 << 20)
    assert small.n == whole.n
    for name in ("rms_db", "zcr", "mfcc", "bark", "contrast", "valley", "hpcp", "pitch", "pitch_conf", "salience",
                 "flux", "hfc", "spectral_snr_db", "peak_freqs", "peak_mags", "peak_offsets"):
        a, b = getattr(small, name), getattr(whole, name)
        # float32 sums in another order differ in the last bits: scale the absolute slack to the feature's range
        # (a frame computed from the wrong samples would be off by far more)
        atol = 1e-6 * max(1.0, float(np.abs(b).max()) if b.size else 1.0)
        assert a.shape == b.shape and np.allclose(a, b, rtol=1e-5, atol=atol), name
    assert np.allclose(small.inharm, whole.inharm, rtol=1e-5, equal_nan=True)
    for k, v in whole.shape.items():
        assert np.allclose(small.shape[k], v, rtol=1e-6), k


def test_loudness_energies_are_measured_while_decoding(corpus_dir: Path) -> None:
    # decoding K-weights the channels block by block; the energies are those of filtering the whole file
    d = decode(corpus_dir / "long_mix.wav")
    audio, sr = sf.read(corpus_dir / "long_mix.wav", dtype="float32", always_2d=True)
    ref = k_hops(audio, sr)
    assert d.khops.hop == ref.hop and d.khops.samples == ref.samples
    assert np.array_equal(d.khops.hops, ref.hops)
    assert d.khops.energy == pytest.approx(ref.energy, rel=1e-9)
    assert d.peak_ratio_clipped == float(np.mean(np.abs(audio) >= 0.999))
    assert d.dc_offset == pytest.approx(float(np.mean(audio, dtype=np.float64)), abs=1e-9)


def test_mfcc_matches_essentia(corpus_dir: Path) -> None:
    d = decode(corpus_dir / "ambi_choir.flac")
    fd = frame_data(d.mono)
    mfcc = es.MFCC(inputSize=1025, sampleRate=44100, numberBands=40, numberCoefficients=13,
                   highFrequencyBound=11025)
    for i in (0, fd.n // 2):
        _, ref = mfcc(magnitudes(d.mono, i, i + 1)[0])
        assert np.allclose(fd.mfcc[i], ref, atol=1e-2)
    assert algorithms() is algorithms()


def test_loudness_matches_essentia(corpus_dir: Path) -> None:
    audio, sr, *_ = es.AudioLoader(filename=str(corpus_dir / "long_mix.wav"))()
    ours, lra = integrated_and_range(audio, int(sr))
    _, _, ref, ref_lra = es.LoudnessEBUR128(sampleRate=sr)(audio)
    assert ours == pytest.approx(ref, abs=0.3)
    assert lra == pytest.approx(ref_lra, abs=1.5)


def test_data_dictionary_documents_every_feature() -> None:
    for f in FEATURES:
        assert f.unit and f.algorithm and f.meaning and f.reliability and f.range, f.name
    md = markdown()
    assert all(f"| {n} |" in md for n in FEATURE_NAMES)


def test_generated_dictionary_document_is_current() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "FEATURES.md"
    assert doc.read_text() == markdown(), "run: tessera features --markdown > docs/FEATURES.md"


def test_every_feature_stays_in_a_sane_range(sonic_pi: Path) -> None:
    """No feature may explode on real material (e.g. empty spectral bands dividing by ~0)."""
    from tessera.indexer.features import CONTRAST_BOUND

    paths = sorted(sonic_pi.glob("*.flac"))[::4]
    m = np.vstack([extract(decode(p)).vector for p in paths])
    assert np.all(np.isfinite(m))
    worst = np.abs(m).max(axis=0)
    too_big = [(FEATURE_NAMES[i], float(worst[i])) for i in np.nonzero(worst > 25_000)[0]]
    assert not too_big, too_big
    assert worst.max() <= max(25_000, CONTRAST_BOUND)
