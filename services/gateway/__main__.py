import sys

from shared.runtime import main

from .app import create_service

if sys.argv[1:2] == ["openapi"]:
    from .openapi import main as openapi

    raise SystemExit(openapi(sys.argv[2:]))
main(create_service())
