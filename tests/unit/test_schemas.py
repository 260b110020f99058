from pathlib import Path

from shared.contracts.schemas import schema_files

SCHEMAS = Path(__file__).parents[2] / "docs" / "schemas"


def test_the_published_json_schemas_match_the_contracts() -> None:
    for name, text in schema_files().items():
        committed = SCHEMAS / name
        assert committed.exists(), f"{committed} is missing: run python -m shared.contracts.schemas"
        assert committed.read_text() == text, f"{committed} is stale: run python -m shared.contracts.schemas"
