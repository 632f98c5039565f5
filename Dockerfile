# One image for every Syston component: `syston api`, `syston worker`, `syston migrate`.
# The build machines have no Docker daemon: tests/cli/test_deployment_files.py checks it
# against the code, but it has not been built here.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The exact, hash-checked pins first (a layer that changes only with the lock): the runtime
# dependencies and the `otel` extra, so tracing can be switched on with OTEL_* variables.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

COPY pyproject.toml README.md worker.py ./
COPY syston/ syston/
COPY api/ api/
COPY workflows/ workflows/
COPY activities/ activities/
COPY integrations/ integrations/
COPY emulators/ emulators/
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /app syston

USER syston
# Nothing persistent lives here in production (PostgreSQL and Temporal hold the state).
ENV SYSTON_DATA_DIR=/tmp/syston \
    SYSTON_ENV=production
# 8000 the API (GET /metrics too); 9100 and 9464 a worker's metrics (its own, the SDK's).
EXPOSE 8000 9100 9464

ENTRYPOINT ["syston"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]
