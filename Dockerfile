FROM python:3.11-slim
WORKDIR /app
COPY setup.cfg pyproject.toml README.md beat_schedule.py ./
COPY worker ./worker
COPY webhooks ./webhooks
RUN pip install --no-cache-dir ".[flower]" && useradd --create-home revsync
USER revsync
EXPOSE 8000
CMD ["gunicorn", "-b", "0.0.0.0:8000", "-w", "4", "webhooks:create_app()"]
