"""The one retry schedule the services share: capped exponential delays with jitter, so that many
waiters (replicas, handlers) do not retry in step."""

import random
from collections.abc import Iterator


def backoff_delays(first_s: float, cap_s: float = 5.0) -> Iterator[float]:
    delay = first_s
    while True:
        yield delay
        delay = min(cap_s, delay * 2) * random.uniform(0.8, 1.2)
