# Aula's image: one image for web, worker, beat, flower and migrate (docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 aula \
    && useradd --system --uid 10001 --gid aula --home-dir /app --shell /usr/sbin/nologin aula

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY --chown=aula:aula . .
# Shared data (downloads, thumbnails, beat's schedule, the encryption key) lives in /data.
RUN mkdir -p /data/downloads && chown -R aula:aula /data

USER aula
ENV DATA_DIR=/data \
    DOWNLOAD_DIR=/data/downloads \
    PORT=8000
EXPOSE 8000 5555 9808

CMD ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
