"""Every metric a service exports, in one place (Prometheus, through `prometheus-client`).

Served on the service's health port at `/metrics`. FastStream's Prometheus middleware adds the
consumers' own figures (`faststream_received_messages_total`, `..._duration_seconds`, per topic);
the outbox relay publishes past it and counts here (`trailblazer_outbox_published_total`). Labels
hold service names, topics, statuses and reason classes: never an id, a name, an address or an
exception's text (which may quote a record).
"""

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)  # process_resident_memory_bytes, process_cpu_seconds_total, ...

# Seconds; a handler's whole transaction, from a few milliseconds to the transient-retry budget.
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HANDLED = Histogram(
    "trailblazer_handler_duration_seconds",
    "Time to handle one record, its transaction included, by outcome "
    "(ok, dead_lettered, redelivered: handed back to Kafka for a transient failure)",
    ["consumer", "topic", "outcome"],
    buckets=_DURATION_BUCKETS,
    registry=REGISTRY,
)
HANDLER_ERRORS = Counter(
    "trailblazer_handler_errors_total",
    "Failed attempts at handling a record, by reason class: transient (database or broker away), "
    "invalid_event (a contract violation: permanent), unexpected (any other exception)",
    ["consumer", "topic", "reason"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "trailblazer_dead_letters_total",
    "Records queued for the dead-letter topic, by reason class (rejected, invalid_event, unexpected)",
    ["consumer", "topic", "reason"],
    registry=REGISTRY,
)
CONSUMED_BATCH = Histogram(
    "trailblazer_consumer_batch_records",
    "Records a consumer handled together in one transaction and one offset commit",
    ["consumer"],
    buckets=(1, 2, 5, 10, 25, 50, 100, 200, 500),
    registry=REGISTRY,
)
BATCH_FALLBACKS = Counter(
    "trailblazer_consumer_batch_fallbacks_total",
    "Batches handled again one record at a time because a record in them failed",
    ["consumer"],
    registry=REGISTRY,
)
CONSUMER_HALTED = Gauge(
    "trailblazer_consumer_halted",
    "1 while a consumer holds its records back because several in a row failed unexpectedly "
    "(a bad deploy, not bad records): alert on it",
    ["consumer"],
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "trailblazer_consumer_lag_records",
    "Records on the topic not yet consumed by this replica's consumer (high watermark - position)",
    ["group", "topic"],
    registry=REGISTRY,
)
OUTBOX_DEPTH = Gauge("trailblazer_outbox_depth", "Rows in the outbox waiting to be published", registry=REGISTRY)
OUTBOX_OLDEST_AGE = Gauge(
    "trailblazer_outbox_oldest_age_seconds",
    "Age of the oldest row still in the outbox (0 when empty)",
    registry=REGISTRY,
)
OUTBOX_PARKED = Gauge(
    "trailblazer_outbox_parked_rows",
    "Outbox rows the broker refused for good, moved aside to outbox_parked (./dev ops outbox)",
    registry=REGISTRY,
)
OUTBOX_PARKED_TOTAL = Counter(
    "trailblazer_outbox_parked_total",
    "Outbox rows moved aside, by reason class (refused, attempts, held: behind a parked row of its key)",
    ["topic", "reason"],
    registry=REGISTRY,
)
OUTBOX_PUBLISHED = Counter(
    "trailblazer_outbox_published_total",
    "Outbox records the broker acknowledged, by topic (every record a service publishes goes through its outbox)",
    ["topic"],
    registry=REGISTRY,
)
OUTBOX_PUBLISH_ERRORS = Counter(
    "trailblazer_outbox_publish_errors_total",
    "Failed attempts at publishing an outbox row, by error type",
    ["error"],
    registry=REGISTRY,
)
RELAY_ACTIVE = Gauge(
    "trailblazer_outbox_relay_active", "1 on the replica whose relay holds the lock", registry=REGISTRY
)
DELIVERIES = Gauge(
    "trailblazer_deliveries",
    "notifications' deliveries by channel and status (failed = parked)",
    ["channel", "status"],
    registry=REGISTRY,
)
CATALOG_CACHE_AGE = Gauge(
    "trailblazer_catalog_cache_age_seconds",
    "Seconds since matching's in-memory catalog last caught up with its database",
    registry=REGISTRY,
)


class Timer:
    """Seconds since it was made."""

    def __init__(self) -> None:
        self._started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._started
