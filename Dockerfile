# rbsync: one image for every process (worker, beat, flower, migrate, sandbox); the command picks.
# Build: docker build -t rbsync .   Run: see docker-compose.yml and docs/operations.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RBSYNC_DATA_DIR=/data

# An unprivileged user; /data holds what a process keeps (beat schedule, Flower state).
RUN useradd --create-home --uid 10001 rbsync \
    && mkdir /data \
    && chown rbsync:rbsync /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY clients clients
COPY ledger ledger
COPY mapping mapping
COPY sandbox sandbox
COPY kinds kinds
COPY tasks tasks
COPY wiring wiring
COPY worker worker
RUN pip install . && rm -rf build ./*.egg-info

USER rbsync
WORKDIR /data
VOLUME ["/data"]
EXPOSE 5555
CMD ["rbsync", "--help"]
