"""Operator commands take their connection options the same way, before or after the sub-command."""

import pytest

from services.notifications import parked
from shared.ops import dead_letters


@pytest.mark.parametrize(
    "argv",
    [
        ["--database-url", "postgresql://h/n", "list"],
        ["list", "--database-url", "postgresql://h/n"],
    ],
)
def test_deliveries_take_the_database_before_or_after_the_sub_command(argv: list[str]) -> None:
    assert parked._parser().parse_args(argv).database_url == "postgresql://h/n"


def test_an_option_not_given_stays_unset_for_the_environment_to_fill() -> None:
    assert parked._parser().parse_args(["list"]).database_url is None
    assert dead_letters._parser().parse_args(["list"]).bootstrap is None


@pytest.mark.parametrize("argv", [["--bootstrap", "h:1", "list"], ["list", "--bootstrap", "h:1"]])
def test_dead_letters_take_the_bootstrap_before_or_after_the_sub_command(argv: list[str]) -> None:
    assert dead_letters._parser().parse_args(argv).bootstrap == "h:1"
