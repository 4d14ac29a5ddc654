"""What a combination of member licences allows, and which mixes cannot be merged into one work.

Two levels, as Creative Commons distinguishes them:
- the *collection* (files side by side, each under its own licence): the union of every
  member's conditions applies to whoever uses the whole set;
- an *adaptation* that merges members into one new work (a remix, cut segments): it
  must satisfy every licence at once, which some mixes cannot (warnings).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from tessera.core.licences import Licence, licence_for_spdx


@dataclass
class LicenceSummary:
    counts: dict[str, int]
    commercial_use: bool
    derivatives: bool
    attribution_required: bool
    share_alike: bool
    forbids: list[str]
    requires: list[str]
    warnings: list[str] = field(default_factory=list)
    summary: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _family(lic: Licence) -> str:
    return "BY-NC-SA" if lic.non_commercial else "BY-SA"


def summarise(spdx_ids: Iterable[str], segments_from_nd: int = 0) -> LicenceSummary:
    counts = Counter(spdx_ids)
    lics = [licence_for_spdx(s) for s in sorted(counts)]
    nc = [lic for lic in lics if lic.non_commercial]
    nd = [lic for lic in lics if lic.no_derivatives]
    sa = [lic for lic in lics if lic.share_alike]
    by = any(lic.attribution for lic in lics)
    forbids = (["commercial use"] if nc else []) + (["derivative works of the ND files"] if nd else [])
    requires = (["attribution (see ATTRIBUTION.md)"] if by else []) + (
        ["share-alike: adaptations under the same licence"] if sa else [])
    warnings: list[str] = []
    families = sorted({_family(lic) for lic in sa})
    if len(families) > 1:
        warnings.append(f"{' and '.join(families)} members cannot be merged into one adaptation: each demands its "
                        "own licence for it. Distribute them side by side, each under its own licence.")
    if sa and any(lic.non_commercial and not lic.share_alike for lic in lics) and "BY-SA" in families:
        warnings.append("BY-SA and non-share-alike NC members cannot be merged into one adaptation: BY-SA requires "
                        "the adaptation to allow commercial use, NC forbids it.")
    if nd:
        warnings.append(f"{sum(counts[lic.spdx] for lic in nd)} member(s) are NoDerivatives: they may be shared "
                        "verbatim only; no remixes, edits or cut segments.")
    if segments_from_nd:
        warnings.append(f"{segments_from_nd} member(s) are segments of ND files: a cut segment is a derivative, so "
                        "these are listed for reference and not bundled.")
    parts = []
    parts.append("No commercial use." if nc else "Commercial use allowed.")
    parts.append("Derivatives forbidden for ND files." if nd else "Derivatives allowed.")
    if sa:
        parts.append("Share-alike applies.")
    if by:
        parts.append("Attribution required.")
    return LicenceSummary(counts=dict(sorted(counts.items())), commercial_use=not nc, derivatives=not nd,
                          attribution_required=by, share_alike=bool(sa), forbids=forbids, requires=requires,
                          warnings=warnings, summary=" ".join(parts))
