# One image for every revsync process; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    REVSYNC_LOG_FORMAT=json \
    PROMETHEUS_MULTIPROC_DIR=/run/prometheus

WORKDIR /app
COPY setup.cfg pyproject.toml README.md beat_schedule.py revsync.example.toml ./
COPY worker ./worker
COPY webhooks ./webhooks
RUN pip install ".[flower]" \
    && useradd --create-home --uid 10001 revsync \
    && mkdir -p /var/lib/revsync /run/prometheus \
    && chown revsync /var/lib/revsync /run/prometheus

# Never root: Celery warns about it and a compromised worker should own nothing.
USER revsync
EXPOSE 8000 9100 5555
CMD ["gunicorn", "--logger-class=worker.logs.GunicornLogger", "--bind=0.0.0.0:8000", "--workers=4", "webhooks:create_app()"]
