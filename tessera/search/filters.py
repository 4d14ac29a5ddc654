"""The one filter grammar: every surface that filters items (``GET``/``POST /api/search``, ``GET /api/items``,
map points, datasets built from a query, ``tessera search``, the web app) reads these names, types and ranges.

``Filters`` is also what ``SearchStore`` reads, so a name cannot mean one thing on one surface and another
elsewhere. It forbids unknown names and says which are accepted; ``QueryFilters`` is the same grammar for
query strings, where the route's other parameters (``limit``, ``item`` …) sit beside the filters and the
route itself refuses names it does not declare; ``JsonFilters`` takes JSON's own types only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tessera.core.errors import InvalidInput
from tessera.core.vocab import (
    QUALITY_FLAGS,
    ItemStatus,
    LicenceClass,
    MusicalKey,
    QualityFlag,
    Scale,
    SourceKind,
)

ID_MAX = 2**63 - 1
LICENCE_CLASS_HELP = ("open: any use (no NC, no ND); commercial: commercial use allowed (no NC); "
                      "derivatives: derivatives allowed (no ND); restricted: NC or ND")
# (minimum, maximum) pairs: the minimum may not be above the maximum
RANGES = (("duration_min", "duration_max"), ("bpm_min", "bpm_max"), ("tuning_min", "tuning_max"))


class Filters(BaseModel):
    """Which items to consider. Every filter is optional; given filters must all hold (AND)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    licence: Annotated[str | None, Field(max_length=200, description="one licence, as an SPDX id (e.g. CC0-1.0)",
                                         examples=["CC-BY-4.0"])] = None
    licence_class: Annotated[LicenceClass | None, Field(description=LICENCE_CLASS_HELP)] = None
    source: Annotated[SourceKind | None, Field(description="where the item's record comes from")] = None
    record_id: Annotated[int | None, Field(ge=1, le=ID_MAX, description="items of one source record")] = None
    creator: Annotated[str | None, Field(max_length=200, description="creator name contains this "
                                         "(case-insensitive)")] = None
    status: Annotated[ItemStatus | None, Field(description="indexing state of the item")] = None
    duration_min: Annotated[float | None, Field(ge=0, le=1e6, description="seconds, at least")] = None
    duration_max: Annotated[float | None, Field(ge=0, le=1e6, description="seconds, at most")] = None
    bpm_min: Annotated[float | None, Field(ge=0, le=1000, description="estimated tempo, at least")] = None
    bpm_max: Annotated[float | None, Field(ge=0, le=1000, description="estimated tempo, at most")] = None
    bpm_confidence_min: Annotated[float | None, Field(ge=0, le=10, description="confidence of the tempo "
                                                      "estimate (essentia's 0-5.32 scale), at least")] = None
    key: Annotated[MusicalKey | None, Field(description="estimated key")] = None
    scale: Annotated[Scale | None, Field(description="estimated scale")] = None
    tuning_min: Annotated[float | None, Field(ge=-100, le=100, description="cents off 12-TET at 440 Hz, "
                                              "at least")] = None
    tuning_max: Annotated[float | None, Field(ge=-100, le=100, description="cents off 12-TET at 440 Hz, "
                                              "at most")] = None
    exclude_flag: Annotated[list[QualityFlag], Field(max_length=8, description="leave out items with this "
                                                     "quality flag (repeatable)")] = []
    q: Annotated[str | None, Field(max_length=300, description="full text over title, creator, description "
                                   "and keywords: every word must match, as a prefix")] = None
    cluster: Annotated[int | None, Field(ge=1, le=2**31 - 1, description="members of this cluster (id)")] = None
    label: Annotated[str | None, Field(max_length=500, description="a community label on the item or its "
                                       "cluster (any scheme, any language, case-insensitive)")] = None
    label_scheme: Annotated[str | None, Field(max_length=64, description="restrict `label` to one scheme "
                                              "(slug)")] = None

    @model_validator(mode="before")
    @classmethod
    def _known_names(cls, data: Any) -> Any:
        # pydantic's own extra_forbidden names the field but not the accepted ones
        if isinstance(data, dict) and cls.model_config.get("extra") == "forbid":
            unknown = sorted(str(k) for k in data if k not in FILTER_NAMES)
            if unknown:
                raise ValueError(unknown_message(unknown, FILTER_NAMES))
        return data

    @model_validator(mode="after")
    def _ranges(self) -> Filters:
        for lo_name, hi_name in RANGES:
            lo, hi = getattr(self, lo_name), getattr(self, hi_name)
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"{lo_name} ({lo}) is above {hi_name} ({hi})")
        return self

    def active(self) -> dict[str, Any]:
        """The filters given, by their public names (what a dataset's origin records)."""
        return self.model_dump(mode="json", exclude_defaults=True)

    def is_empty(self) -> bool:
        return not self.active()


class QueryFilters(Filters):
    """The grammar read from a query string (unknown names are refused by the route, see ``api.filters``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class JsonFilters(Filters):
    """The grammar in a JSON body: numbers must be JSON numbers (not ``"3"`` or ``false``), as its schema says."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


FILTER_NAMES: tuple[str, ...] = tuple(Filters.model_fields)
_LISTS = frozenset(n for n, f in Filters.model_fields.items() if get_origin(f.annotation) is list)
assert set(get_args(QualityFlag)) == set(QUALITY_FLAGS)


def unknown_message(unknown: Iterable[str], accepted: Iterable[str]) -> str:
    return f"unknown filter {', '.join(unknown)}; the accepted names are: {', '.join(accepted)}"


def describe(exc: ValidationError) -> str:
    """One line per problem, each naming its field (for the command line)."""
    lines = []
    for e in exc.errors():
        where = ".".join(str(p) for p in e["loc"])
        msg = str(e["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {msg}" if where else msg)
    return "; ".join(lines)


def parse(data: dict[str, Any]) -> Filters:
    """Filters from a mapping (a JSON body, the command line), or ``InvalidInput`` naming each bad field."""
    try:
        return Filters.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(describe(exc), filters=sorted(str(k) for k in data)) from None


def from_pairs(pairs: Iterable[str], **given: Any) -> Filters:
    """Filters from ``NAME=VALUE`` strings (``tessera search --filter``); list filters may repeat."""
    data: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidInput(f"a filter is NAME=VALUE, not {pair!r}; the names are: {', '.join(FILTER_NAMES)}")
        if name in _LISTS:
            data.setdefault(name, []).append(value)
        elif name in data:
            raise InvalidInput(f"filter {name} is given twice", filter=name)
        else:
            data[name] = value
    return parse(data)
