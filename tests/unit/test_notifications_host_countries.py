from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.notifications import host_countries

NAMED_IN_ISSUE = [
    "NO",
    "DE",
    "NL",
    "GB",
    "US",
    "MX",
    "SG",
    "AE",
    "CH",
    "DK",
    "SE",
    "FR",
    "ES",
    "CA",
    "AU",
    "JP",
    "CN",
    "BR",
    "IN",
    "PL",
]


def test_every_country_the_issue_names_is_reviewed_with_a_source_and_a_date() -> None:
    countries = host_countries.load().countries
    assert set(NAMED_IN_ISSUE) <= set(countries)
    for code, facts in countries.items():
        assert facts.source.scheme == "https" and facts.source.host, code
        assert facts.evidence, code
        assert date(2025, 1, 1) <= facts.last_reviewed <= date.today(), code


def test_an_entry_that_is_not_a_plain_yes_says_what_to_apply_for_or_admits_it_is_unverified() -> None:
    for code, facts in host_countries.load().countries.items():
        if facts.partner_may_work in (host_countries.PartnerMayWork.NO, host_countries.PartnerMayWork.WITH_PERMIT):
            assert facts.apply_for, code
        if facts.partner_may_work is host_countries.PartnerMayWork.UNVERIFIED:
            assert not facts.confirmed, code


def test_a_missing_source_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[countries.NO]\npartner_may_work = "yes"\nsummary = "A long enough summary of the rule."\n'
        'apply_for = ""\nprocessing_time = ""\nevidence = ["https://udi.no"]\nverification = "official"\n'
        'note = ""\nlast_reviewed = 2026-01-01\n'
    )
    with pytest.raises(ValidationError, match="source"):
        host_countries.load(bad)


def test_an_unknown_country_code_is_refused(tmp_path: Path) -> None:
    text = host_countries.DATA_FILE.read_text().replace("[countries.NO]", "[countries.XX]")
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(ValidationError, match="XX"):
        host_countries.load(bad)
