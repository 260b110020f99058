from shared.runtime import main

from .app import create_service

main(create_service())
