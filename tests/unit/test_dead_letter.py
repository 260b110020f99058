"""The dead-letter format keeps the original record's headers byte for byte, whatever they hold."""

from hypothesis import given
from hypothesis import strategies as st

from shared import dead_letter

ORIGIN = dead_letter.Origin("matching", "trailblazer.assignment.created.v1", 3, 42)

header_names = st.text(min_size=1, max_size=20)
header_values = st.binary(max_size=50)


@given(st.lists(st.tuples(header_names, header_values), max_size=8, unique_by=lambda h: h[0]))
def test_original_headers_survive_the_round_trip(raw: list[tuple[str, bytes]]) -> None:
    encoded = dead_letter.dead_letter_headers(raw, ORIGIN, "invalid_event: $=malformed_json")
    assert all("\x00" not in name + value for name, value in encoded.items()), "storable in jsonb"
    on_the_wire = {name: value.encode() for name, value in encoded.items()}
    expected = [(name.replace("\x00", "\ufffd"), value) for name, value in raw]
    assert sorted(dead_letter.original_headers(on_the_wire)) == sorted(expected)


def test_the_annotations_say_where_and_why() -> None:
    headers = dead_letter.dead_letter_headers([("firm_id", b"acme")], ORIGIN, "reason with \x00 nul")
    assert headers["firm_id"] == "acme"
    assert headers[dead_letter.REASON] == "reason with \ufffd nul"
    assert headers[dead_letter.CONSUMER] == "matching"
    assert (headers[dead_letter.TOPIC], headers[dead_letter.PARTITION], headers[dead_letter.OFFSET]) == (
        "trailblazer.assignment.created.v1",
        "3",
        "42",
    )
    assert ORIGIN.record_id == "record:trailblazer.assignment.created.v1:3:42"


def test_an_earlier_dead_letters_annotations_are_kept_apart_from_the_new_ones() -> None:
    replayed = [("dead_letter.replayed_from", b"1:7"), ("event_type", b"assignment.created")]
    on_the_wire = {n: v.encode() for n, v in dead_letter.dead_letter_headers(replayed, ORIGIN, "again").items()}
    assert sorted(dead_letter.original_headers(on_the_wire)) == sorted(replayed)


def test_headers_a_publisher_adds_on_the_way_are_not_taken_for_original_ones() -> None:
    on_the_wire = {n: v.encode() for n, v in dead_letter.dead_letter_headers([("firm_id", b"a")], ORIGIN, "x").items()}
    on_the_wire |= {"content-type": b"", "correlation_id": b"added-by-faststream"}
    assert dead_letter.original_headers(on_the_wire) == [("firm_id", b"a")]
