import sys

from shared.runtime import main

from .app import create_service

if sys.argv[1:2] in (["report"], ["scorecard"], ["clock"]):
    from .report import main as report

    report(sys.argv[1:])
else:
    main(create_service())
