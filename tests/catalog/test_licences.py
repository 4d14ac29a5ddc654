from pathlib import Path

import pytest

from tessera.catalog.store import Catalog, FileIn, RecordIn
from tessera.catalog.visibility import OPERATOR
from tessera.compose import consent_service
from tessera.core.db import Database
from tessera.core.errors import LicenceError, NotFound
from tessera.core.licences import attribution_line, normalise
from tessera.core.settings import Settings


@pytest.mark.parametrize(
    ("raw", "spdx", "open_", "restricted"),
    [
        ("CC0-1.0", "CC0-1.0", True, False),
        ("cc-zero", "CC0-1.0", True, False),
        ("cc-by", "CC-BY-4.0", True, False),
        ("cc-by-sa-4.0", "CC-BY-SA-4.0", True, False),
        ("CC-BY-NC-4.0", "CC-BY-NC-4.0", False, True),
        ("http://creativecommons.org/licenses/by/2.0/", "CC-BY-2.0", True, False),
        ("https://creativecommons.org/licenses/by-sa/4.0/legalcode", "CC-BY-SA-4.0", True, False),
        ("https://creativecommons.org/licenses/by-nd/4.0/deed.fr", "CC-BY-ND-4.0", False, True),
        ("http://creativecommons.org/licenses/by/3.0/us/", "CC-BY-3.0-US", True, False),
        ("https://creativecommons.org/licenses/by-nc-sa/3.0/us", "CC-BY-NC-SA-3.0", False, True),
        ("http://creativecommons.org/publicdomain/mark/1.0/", "CC-PDM-1.0", True, False),
        ("http://creativecommons.org/publicdomain/zero/1.0/", "CC0-1.0", True, False),
        ("This work is licensed under the Creative Commons 0 License.", "CC0-1.0", True, False),
        ("Creative Commons - Attribution-ShareAlike 3.0 Unported", "CC-BY-SA-3.0", True, False),
    ],
)
def test_normalise(raw: str, spdx: str, open_: bool, restricted: bool) -> None:
    lic = normalise(raw)
    assert (lic.spdx, lic.open, lic.restricted) == (spdx, open_, restricted)
    assert lic.url.startswith("https://creativecommons.org/")


def test_ported_url_without_spdx_id_keeps_the_port_in_the_url() -> None:
    lic = normalise("https://creativecommons.org/licenses/by-nc-sa/3.0/us/")
    assert lic.url.endswith("/3.0/us/")
    assert lic.forbids == ["commercial use"]


@pytest.mark.parametrize("raw", ["GPL", "MIT", "", "all rights reserved", "cc-by-sa-nd-4.0",
                                 "https://creativecommons.org/licenses/sampling+/1.0/"])
def test_unknown_or_closed_licences_are_refused(raw: str) -> None:
    with pytest.raises(LicenceError):
        normalise(raw)


def test_attribution_is_a_tasl_line() -> None:
    line = attribution_line("Rain on tin", "A. Person", "https://example.org/r/1", normalise("CC-BY-4.0"))
    assert line == ('"Rain on tin" by A. Person (https://example.org/r/1) is licensed under CC-BY-4.0 '
                    "(https://creativecommons.org/licenses/by/4.0/)")


@pytest.mark.parametrize(
    ("raw", "spdx", "url", "open_", "restricted"),
    [
        # the retired CC public-domain URL, and Zenodo's legacy public-domain id: public domain
        ("http://creativecommons.org/licenses/publicdomain/", "CC-PDM-1.0",
         "https://creativecommons.org/publicdomain/mark/1.0/", True, False),
        ("https://creativecommons.org/licenses/publicdomain/deed.en", "CC-PDM-1.0",
         "https://creativecommons.org/publicdomain/mark/1.0/", True, False),
        ("other-pd", "CC-PDM-1.0", "https://creativecommons.org/publicdomain/mark/1.0/", True, False),
        # Zenodo's legacy "cc-nc" (Attribution-NonCommercial, no version): harvested as restricted
        ("cc-nc", "CC-BY-NC-4.0", "https://creativecommons.org/licenses/by-nc/4.0/", False, True),
        # /rdf is the licence's RDF, not a jurisdiction
        ("https://creativecommons.org/licenses/by/3.0/rdf", "CC-BY-3.0",
         "https://creativecommons.org/licenses/by/3.0/", True, False),
        ("http://creativecommons.org/licenses/by-sa/4.0/rdf/", "CC-BY-SA-4.0",
         "https://creativecommons.org/licenses/by-sa/4.0/", True, False),
        ("https://creativecommons.org/licenses/by/3.0/us/rdf", "CC-BY-3.0-US",
         "https://creativecommons.org/licenses/by/3.0/us/", True, False),
        # ports longer than three letters
        ("http://creativecommons.org/licenses/by-sa/2.0/scotland/", "CC-BY-SA-2.0",
         "https://creativecommons.org/licenses/by-sa/2.0/scotland/", True, False),
        ("https://creativecommons.org/licenses/by-nc/2.5/scotland/deed.en_GB", "CC-BY-NC-2.5",
         "https://creativecommons.org/licenses/by-nc/2.5/scotland/", False, True),
        ("http://creativecommons.org/licenses/by-sa/2.0/uk/", "CC-BY-SA-2.0-UK",
         "https://creativecommons.org/licenses/by-sa/2.0/uk/", True, False),
        ("https://creativecommons.org/licenses/by/4.0/deed", "CC-BY-4.0",
         "https://creativecommons.org/licenses/by/4.0/", True, False),
        ("https://creativecommons.org/licenses/by/4.0/legalcode.de", "CC-BY-4.0",
         "https://creativecommons.org/licenses/by/4.0/", True, False),
    ],
)
def test_review_gaps(raw: str, spdx: str, url: str, open_: bool, restricted: bool) -> None:
    lic = normalise(raw)
    assert (lic.spdx, lic.url, lic.open, lic.restricted) == (spdx, url, open_, restricted)


@pytest.mark.parametrize("raw", ["other-nc", "other-closed", "notspecified",
                                 "https://creativecommons.org/publicdomain/other/1.0/"])
def test_other_zenodo_ids_stay_refused(raw: str) -> None:
    with pytest.raises(LicenceError):
        normalise(raw)


def test_licence_open_again_restores_only_what_the_licence_took(tmp_path: Path, settings: Settings) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.sqlite'}")
    db.migrate()
    cat = Catalog(db, OPERATOR)
    consent = consent_service(db, settings)
    rid = cat.upsert_record(RecordIn(kind="zenodo", identifier="1", title="t", licence="cc-by-4.0"))
    ids = [cat.add_file(rid, FileIn(filename=f"{i}.wav", md5=f"{i:032d}", size=1))[0] for i in range(4)]
    consent.withdraw("file", str(ids[3]), actor="the uploader", reason="consent withdrawn")  # before
    consent.take_down_record(rid, "licence_not_open: licence 'other-closed' is not an open licence",
                               keep_md5s={f"{2:032d}"})
    consent.withdraw("file", str(ids[1]), actor="the uploader", reason="consent withdrawn")  # after
    consent.take_down_record(rid, "file no longer at the source")  # ids[2]: another crawler reason
    md5s = {f"{i:032d}" for i in range(4)}
    back = consent.restore_files(rid, md5s, ("licence_not_open:", "no_licence:"), "open again")
    assert back == [ids[0]]
    assert consent.restore_files(rid, md5s, ("licence_not_open:",), "again") == []  # idempotent
    assert cat.get_item(ids[0]).consent_state == "active"
    for fid in ids[1:]:
        with pytest.raises(NotFound):
            cat.get_item(fid)
