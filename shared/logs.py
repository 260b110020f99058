"""Log lines carry the trace and span ids, so an operator can jump from a line to the whole trace.

`TRAILBLAZER_LOG_FORMAT=text` (default) writes one readable line per record;
`TRAILBLAZER_LOG_FORMAT=json` writes one JSON object per line for a log pipeline:
`{"time", "level", "service", "logger", "message", "trace_id", "span_id"}` (+ `"exception"`).
"""

import json
import logging
import sys
from datetime import UTC, datetime

from .telemetry import current_span_id, current_trace_id


class _TraceIds(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id = current_trace_id() or "-"
        record.span_id = current_span_id() or "-"
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, service_name: str) -> None:
        super().__init__()
        self._service = service_name

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": getattr(record, "trace_id", "-"),
            "span_id": getattr(record, "span_id", "-"),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(service_name: str, level: str = "INFO", log_format: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_TraceIds())
    if log_format == "json":
        handler.setFormatter(JsonFormatter(service_name))
    else:
        ids = "trace_id=%(trace_id)s span_id=%(span_id)s"
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {service_name} {ids} %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka logs every reconnect attempt at ERROR; our own lines already say what matters.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
