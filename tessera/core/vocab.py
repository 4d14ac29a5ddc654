"""The vocabularies every surface shares: one definition each, read by the API's enums, the CLI and the stores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# where a source record comes from
SOURCE_KINDS = ("folder", "zenodo", "internet_archive")
SourceKind = Literal["folder", "zenodo", "internet_archive"]

# archives the crawlers unpack: a file named ``x.zip/member.wav`` came out of one, and its source URL is the archive's
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")

# formats (as the registration probe names them) that keep every sample: preferred as canonical copy
LOSSLESS_FORMATS = frozenset({"wav", "flac", "aiff", "aif", "w64", "wavex", "rf64", "caf"})

# What a licence allows, as a filter: ``open`` allows any use (no NC, no ND), ``commercial`` allows
# commercial use (no NC), ``derivatives`` allows derivatives (no ND), ``restricted`` is NC or ND.
LICENCE_CLASSES = ("open", "commercial", "derivatives", "restricted")
LicenceClass = Literal["open", "commercial", "derivatives", "restricted"]

# Ordered by what they may do; a steward is an editor with stewardship of given schemes.
ROLES = ("editor", "moderator", "admin")
ROLE_RANK = {"anonymous": 0, "editor": 1, "moderator": 2, "admin": 3}
Role = Literal["editor", "moderator", "admin"]

# consent_state of a file; a lapsed period is "active" with consent_expires_at in the past until swept
CONSENT_STATES = ("active", "withdrawn")
CONSENT_SCOPES = ("file", "record", "creator")
ConsentScope = Literal["file", "record", "creator"]
OPT_OUT_KINDS = ("creator", "orcid", "ia_uploader", "zenodo_community")
OptOutKind = Literal["creator", "orcid", "ia_uploader", "zenodo_community"]

QUALITY_FLAGS = {
    "silent": "more than 90% of frames below -60 dBFS",
    "mostly_silent": "more than 50% of frames below -60 dBFS",
    "clipped": "more than 0.1% of samples at full scale",
    "dc_offset": "DC offset above 1% of full scale",
    "noisy": (
        "estimated SNR below 12 dB on material longer than 2 s (SNR: the larger of the level spread between "
        "loud and quiet frames and the median spectral peak-to-floor ratio)"
    ),
    "too_short": "shorter than 0.5 s",
    "mono": "a single channel",
    "low_sample_rate": "sample rate below 22050 Hz",
}
QualityFlag = Literal[
    "silent", "mostly_silent", "clipped", "dc_offset", "noisy", "too_short", "mono", "low_sample_rate"]

# an item's indexing state
ITEM_STATUSES = ("pending", "indexed", "failed")
ItemStatus = Literal["pending", "indexed", "failed"]

# the key and scale the indexer's key estimator names (both spellings of the black keys)
MUSICAL_KEYS = ("C", "C#", "Db", "D", "D#", "Eb", "E", "F", "F#", "Gb", "G", "G#", "Ab", "A", "A#", "Bb", "B")
MusicalKey = Literal["C", "C#", "Db", "D", "D#", "Eb", "E", "F", "F#", "Gb", "G", "G#", "Ab", "A", "A#", "Bb", "B"]
SCALES = ("major", "minor")
Scale = Literal["major", "minor"]


@dataclass(frozen=True)
class ProtocolKind:
    code: str
    name: str
    restricts: bool
    seasonal: bool = False


_KINDS = [
    # Traditional Knowledge labels
    ProtocolKind("tk_attribution", "TK Attribution", False),
    ProtocolKind("tk_clan", "TK Clan", False),
    ProtocolKind("tk_family", "TK Family", False),
    ProtocolKind("tk_multiple_communities", "TK Multiple Communities", False),
    ProtocolKind("tk_community_voice", "TK Community Voice", False),
    ProtocolKind("tk_creative", "TK Creative", False),
    ProtocolKind("tk_verified", "TK Verified", False),
    ProtocolKind("tk_non_verified", "TK Non-Verified", False),
    ProtocolKind("tk_seasonal", "TK Seasonal", True, seasonal=True),
    ProtocolKind("tk_women_general", "TK Women General", False),
    ProtocolKind("tk_men_general", "TK Men General", False),
    ProtocolKind("tk_women_restricted", "TK Women Restricted", True),
    ProtocolKind("tk_men_restricted", "TK Men Restricted", True),
    ProtocolKind("tk_culturally_sensitive", "TK Culturally Sensitive", False),
    ProtocolKind("tk_secret_sacred", "TK Secret / Sacred", True),
    ProtocolKind("tk_open_to_commercialization", "TK Open to Commercialization", False),
    ProtocolKind("tk_non_commercial", "TK Non-Commercial", False),
    ProtocolKind("tk_community_use_only", "TK Community Use Only", True),
    ProtocolKind("tk_outreach", "TK Outreach", False),
    ProtocolKind("tk_open_to_collaboration", "TK Open to Collaboration", False),
    # Biocultural labels
    ProtocolKind("bc_provenance", "BC Provenance", False),
    ProtocolKind("bc_multiple_communities", "BC Multiple Communities", False),
    ProtocolKind("bc_clan", "BC Clan", False),
    ProtocolKind("bc_consent_verified", "BC Consent Verified", False),
    ProtocolKind("bc_consent_non_verified", "BC Consent Non-Verified", False),
    ProtocolKind("bc_research_use", "BC Research Use", False),
    ProtocolKind("bc_open_to_collaboration", "BC Open to Collaboration", False),
    ProtocolKind("bc_open_to_commercialization", "BC Open to Commercialization", False),
    ProtocolKind("bc_outreach", "BC Outreach", False),
    ProtocolKind("bc_non_commercial", "BC Non-Commercial", False),
    # notices (set by institutions while a community's labels are pending)
    ProtocolKind("tk_notice", "TK Notice", False),
    ProtocolKind("bc_notice", "BC Notice", False),
    ProtocolKind("attribution_incomplete", "Attribution Incomplete Notice", False),
    ProtocolKind("open_to_collaboration", "Open to Collaboration Notice", False),
]
KINDS = {k.code: k for k in _KINDS}
