import pytest

from tessera.catalog.errors import LicenceError
from tessera.catalog.licences import attribution_line, normalise


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
