# syntax=docker/dockerfile:1
# One image for the three services: `python -m services.<name>` runs one, and
# `python -m services.<name> migrate` applies its migrations and exits.
#   docker build -t trailblazer:dev .
#   docker run --rm trailblazer:dev services.matching migrate

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
# uv comes from PyPI, pinned to the version that wrote uv.lock.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
# Compile bytecode now: the runtime root file system is read-only.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first, so that a code change does not reinstall them.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-default-groups --no-install-project
COPY shared ./shared
COPY services ./services
# Demo data (TRAILBLAZER_SAMPLE_CATALOG=true in docker-compose), imported only when asked for.
COPY samples ./samples
COPY deploy/__init__.py ./deploy/__init__.py
RUN uv sync --frozen --no-default-groups

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 trailblazer \
 && useradd --system --uid 10001 --gid trailblazer --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin trailblazer
WORKDIR /app
# Owned by root and read-only for the service user: the code cannot be changed at run time.
COPY --from=build /app /app
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TRAILBLAZER_HEALTH_HOST=0.0.0.0 \
    TRAILBLAZER_HEALTH_PORT=8100 \
    OTEL_TRACES_EXPORTER=otlp_proto_http
USER 10001:10001
EXPOSE 8100
ENTRYPOINT ["python", "-m"]
CMD ["services.intake"]
