"""Licence normalisation to SPDX ids and what each licence allows.

Accepts SPDX ids in any case, Zenodo's lower-case ids (``cc-zero``, ``cc-by``),
Creative Commons URLs (http/https, trailing slash, ``deed``/``legalcode``,
jurisdiction ports such as ``/3.0/us/``) and common prose ("Creative Commons
Attribution-ShareAlike 3.0 Unported").
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from tessera.core.errors import LicenceError

# SPDX carries only some jurisdiction ports; others normalise to the unported id
# and keep the original URL.
_SPDX_PORTS = {
    "CC-BY-2.5-AU", "CC-BY-3.0-AT", "CC-BY-3.0-AU", "CC-BY-3.0-DE", "CC-BY-3.0-IGO", "CC-BY-3.0-NL",
    "CC-BY-3.0-US", "CC-BY-SA-2.0-UK", "CC-BY-SA-2.1-JP", "CC-BY-SA-3.0-AT", "CC-BY-SA-3.0-DE",
    "CC-BY-SA-3.0-IGO", "CC-BY-NC-3.0-DE", "CC-BY-NC-ND-3.0-DE", "CC-BY-NC-ND-3.0-IGO",
    "CC-BY-NC-SA-2.0-DE", "CC-BY-NC-SA-2.0-FR", "CC-BY-NC-SA-2.0-UK", "CC-BY-NC-SA-3.0-DE",
    "CC-BY-NC-SA-3.0-IGO", "CC-BY-ND-3.0-DE",
}
_VERSIONS = {"1.0", "2.0", "2.1", "2.5", "3.0", "4.0"}
_ELEMENTS = ("BY", "BY-SA", "BY-NC", "BY-ND", "BY-NC-SA", "BY-NC-ND")
_DEFAULT_VERSION = "4.0"


@dataclass(frozen=True)
class Licence:
    spdx: str
    url: str
    name: str
    open: bool  # CC0, PDM, BY, BY-SA: free for any use
    restricted: bool  # NC or ND: open access, but with limits that every answer states
    attribution: bool
    share_alike: bool
    non_commercial: bool
    no_derivatives: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def forbids(self) -> list[str]:
        out = []
        if self.non_commercial:
            out.append("commercial use")
        if self.no_derivatives:
            out.append("derivative works")
        return out


def licence_for_spdx(spdx: str) -> Licence:
    """Build the Licence for a canonical SPDX id we support."""
    if spdx == "CC0-1.0":
        return Licence(spdx, "https://creativecommons.org/publicdomain/zero/1.0/",
                       "Creative Commons Zero v1.0 Universal", True, False, False, False, False, False)
    if spdx == "CC-PDM-1.0":
        return Licence(spdx, "https://creativecommons.org/publicdomain/mark/1.0/",
                       "Creative Commons Public Domain Mark 1.0", True, False, False, False, False, False)
    m = re.fullmatch(r"CC-(BY(?:-NC)?(?:-SA|-ND)?)-(\d\.\d)(?:-([A-Z]+))?", spdx)
    if not m or m.group(2) not in _VERSIONS:
        raise LicenceError(f"unsupported licence id {spdx!r}", licence=spdx)
    elements, version, port = m.group(1), m.group(2), m.group(3)
    nc, nd, sa = "-NC" in elements, "-ND" in elements, "-SA" in elements
    path = elements.lower()
    url = f"https://creativecommons.org/licenses/{path}/{version}/" + (f"{port.lower()}/" if port else "")
    words = ["Attribution"]
    if nc:
        words.append("NonCommercial")
    if nd:
        words.append("NoDerivatives" if version == "4.0" else "NoDerivs")
    if sa:
        words.append("ShareAlike")
    name = f"Creative Commons {'-'.join(words)} {version}" + (f" {port}" if port else "")
    return Licence(spdx, url, name, not (nc or nd), nc or nd, True, sa, nc, nd)


def _from_parts(elements: str, version: str | None, port: str | None) -> str:
    elements = elements.upper().replace("_", "-")
    # CC's own order is BY-NC-SA / BY-NC-ND; tolerate BY-SA-NC and friends
    parts = [p for p in elements.split("-") if p]
    if not parts or parts[0] != "BY" or not set(parts) <= {"BY", "NC", "SA", "ND"}:
        raise LicenceError(f"unknown Creative Commons licence elements {elements!r}")
    ordered = "BY" + ("-NC" if "NC" in parts else "") + ("-SA" if "SA" in parts else "") + (
        "-ND" if "ND" in parts else "")
    if "-SA" in ordered and "-ND" in ordered:
        raise LicenceError("a licence cannot be both ShareAlike and NoDerivatives")
    version = version or _DEFAULT_VERSION
    if version not in _VERSIONS:
        raise LicenceError(f"unknown Creative Commons version {version!r}")
    spdx = f"CC-{ordered}-{version}"
    if port:
        ported = f"{spdx}-{port.upper()}"
        if ported in _SPDX_PORTS:
            return ported
    return spdx


# A port is a jurisdiction after the version (/3.0/us/, /2.5/scotland/); the words that may follow a
# version (deed, legalcode, rdf) are never ports.
_URL_RE = re.compile(
    r"^(?:https?://)?(?:www\.)?creativecommons\.org/(?P<kind>licenses|licences|publicdomain)/"
    r"(?P<what>[a-z-]+)(?:/(?P<version>\d\.\d))?"
    r"(?:/(?P<port>(?!(?:deed|legalcode|rdf)(?:[./]|$))[a-z]{2,}))?"
    r"(?:/(?:deed(?:\.[a-z_-]+)?|legalcode(?:\.[a-z_-]+)?|rdf)?)?/?(?:[?#].*)?$",
    re.IGNORECASE,
)

_ALIASES = {
    "cc0": "CC0-1.0", "cc-zero": "CC0-1.0", "cc0-1.0": "CC0-1.0", "cc-0": "CC0-1.0", "cc zero": "CC0-1.0",
    "creative commons zero": "CC0-1.0", "creative commons 0": "CC0-1.0", "public domain dedication": "CC0-1.0",
    "pdm": "CC-PDM-1.0", "cc-pdm-1.0": "CC-PDM-1.0", "cc-pdm": "CC-PDM-1.0", "public domain mark": "CC-PDM-1.0",
    "public domain": "CC-PDM-1.0", "publicdomain": "CC-PDM-1.0", "cc-pd": "CC-PDM-1.0",
    # Zenodo's legacy ids: "other-pd" is its public-domain choice; "cc-nc" was "Creative Commons
    # Attribution-NonCommercial", with no version, so the current one (restricted, like every NC)
    "other-pd": "CC-PDM-1.0", "cc-nc": "CC-BY-NC-4.0",
}


def _from_prose(text: str) -> str | None:
    low = text.lower()
    if "creative commons" not in low and not low.startswith(("cc", "attribution")):
        return None
    if re.search(r"\b(zero|cc0|0 licen[cs]e)\b", low) or "creative commons 0" in low:
        return "CC0-1.0"
    words = {
        "BY": "attribution" in low or re.search(r"\bby\b", low) is not None,
        "NC": "noncommercial" in low or "non-commercial" in low or re.search(r"\bnc\b", low) is not None,
        "SA": "sharealike" in low or "share alike" in low or "share-alike" in low
        or re.search(r"\bsa\b", low) is not None,
        "ND": "noderiv" in low or "no deriv" in low or re.search(r"\bnd\b", low) is not None,
    }
    if not words["BY"]:
        return None
    elements = "-".join(k for k in ("BY", "NC", "SA", "ND") if words[k])
    vm = re.search(r"\b(\d\.\d)\b", low)
    port = None
    if "united states" in low:
        port = "US"
    return _from_parts(elements, vm.group(1) if vm else None, port)


def normalise(value: str) -> Licence:
    """Normalise a licence string, id or URL. Raises LicenceError when unknown."""
    if value is None or not str(value).strip():
        raise LicenceError("no licence given")
    raw = str(value).strip()
    low = raw.lower()
    if low in _ALIASES:
        return licence_for_spdx(_ALIASES[low])
    m = _URL_RE.match(raw)
    if m:
        kind, what = m.group("kind").lower(), m.group("what").lower()
        if what == "publicdomain":  # the retired /licenses/publicdomain/ (PD certification): a PD mark
            return licence_for_spdx("CC-PDM-1.0")
        if kind == "publicdomain":
            if what == "zero":
                return licence_for_spdx("CC0-1.0")
            if what in ("mark", ""):
                return licence_for_spdx("CC-PDM-1.0")
            raise LicenceError(f"unknown public-domain tool URL {raw!r}")
        lic = licence_for_spdx(_from_parts(what, m.group("version"), m.group("port")))
        port = m.group("port")
        if port and not lic.spdx.endswith(port.upper()):
            # SPDX has no id for this port: keep the unported id but the ported deed's URL
            lic = replace(lic, url=f"{lic.url}{port.lower()}/")
        return lic
    # SPDX-like ids: CC-BY-4.0, cc-by-sa-3.0-us, CC-BY-NC-4.0, cc-by (Zenodo, no version)
    m2 = re.fullmatch(r"cc[-_ ](by(?:[-_ ](?:nc|sa|nd))*)(?:[-_ ](\d\.\d)(?:[-_ ]([a-z]{2,}))?)?", low)
    if m2:
        return licence_for_spdx(_from_parts(m2.group(1).replace(" ", "-"), m2.group(2), m2.group(3)))
    prose = _from_prose(raw)
    if prose:
        return licence_for_spdx(prose)
    raise LicenceError(
        f"unknown or non-open licence {raw!r}: give an SPDX id such as CC0-1.0, CC-PDM-1.0, "
        "CC-BY-4.0 or CC-BY-SA-4.0 (NC/ND variants are accepted as restricted), or a Creative Commons URL",
        licence=raw,
    )


def try_normalise(value: str | None) -> Licence | None:
    if not value:
        return None
    try:
        return normalise(value)
    except LicenceError:
        return None


def attribution_line(title: str, creator: str | None, source: str | None, lic: Licence) -> str:
    """One ready-to-paste TASL (Title, Author, Source, Licence) line."""
    parts = [f'"{title}"']
    if creator:
        parts.append(f"by {creator}")
    if source:
        parts.append(f"({source})")
    parts.append(f"is licensed under {lic.spdx} ({lic.url})")
    if lic.spdx == "CC-PDM-1.0":
        parts[-1] = f"is marked with {lic.name} ({lic.url})"
    elif lic.spdx == "CC0-1.0":
        parts[-1] = f"is dedicated to the public domain under {lic.name} ({lic.url})"
    return " ".join(parts)
