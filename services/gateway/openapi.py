"""The gateway's OpenAPI document, committed beside the code so firms can build clients from it:

python -m services.gateway openapi          rewrite services/gateway/openapi.json
python -m services.gateway openapi check    exit 1 if it is stale (a unit test does the same)
"""

import json
from pathlib import Path
from typing import Any, cast

from .api import create_api
from .auth import FirmAuthenticator

DOCUMENT = Path(__file__).parent / "openapi.json"


def document() -> dict[str, Any]:
    # Neither the pool nor the sign-in is used to describe the API.
    api = create_api(cast(Any, None), cast(FirmAuthenticator, None))
    return api.openapi()


def text() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if argv[:1] == ["check"]:
        stale = not DOCUMENT.exists() or DOCUMENT.read_text() != text()
        print(f"{DOCUMENT} is stale: run python -m services.gateway openapi" if stale else f"{DOCUMENT} is current")
        return 1 if stale else 0
    DOCUMENT.write_text(text())
    print(f"wrote {DOCUMENT}")
    return 0
