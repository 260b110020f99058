import sys

from shared.runtime import main

from .app import create_service

if sys.argv[1:2] == ["report"]:
    from .report import main as report

    report(sys.argv[2:])
elif sys.argv[1:2] == ["deliveries"]:
    from .parked import run as deliveries

    deliveries(sys.argv[2:])
else:
    main(create_service())
