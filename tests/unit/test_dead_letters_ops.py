"""The operator command's pure parts: filtering and what `list` and `show` print."""

from shared import dead_letter
from shared.ops.dead_letters import DeadLetter, list_lines, select, show_lines


def _letter(consumer: str, topic: str, offset: int) -> DeadLetter:
    origin = dead_letter.Origin(consumer, topic, 2, 40 + offset)
    headers = dead_letter.dead_letter_headers([("firm_id", b"acme"), ("odd", b"\xff")], origin, "invalid_event: $=x")
    return DeadLetter(1, offset, 1_790_000_000_000, b"key", b'{"a": 1}', {k: v.encode() for k, v in headers.items()})


LETTERS = [
    _letter("matching", "trailblazer.assignment.created.v1", 0),
    _letter("notifications", "trailblazer.match.proposed.v1", 1),
]


def test_filters_by_consumer_and_source_topic() -> None:
    assert select(LETTERS, "matching", None) == LETTERS[:1]
    assert select(LETTERS, None, "trailblazer.match.proposed.v1") == LETTERS[1:]
    assert select(LETTERS, None, None) == LETTERS


def test_list_names_position_origin_and_reason() -> None:
    lines = list_lines(LETTERS)
    assert "1:0" in lines[1] and "trailblazer.assignment.created.v1/2/40" in lines[1]
    assert "invalid_event: $=x" in lines[1]
    assert lines[-1] == "2 dead letter(s)"


def test_show_prints_the_original_headers_and_value() -> None:
    text = "\n".join(show_lines(LETTERS[0]))
    assert "firm_id: acme" in text
    assert "odd: base64:/w==" in text
    assert '{"a": 1}' in text
    assert "dead_letter.reason" not in text, "annotations are shown once, above"
