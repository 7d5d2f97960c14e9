# The tilts image: one image, one `tilts` subcommand per service (see docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 TILTS_DATA_DIR=/data TILTS_CACHE_DIR=/app/cache
WORKDIR /app
COPY pyproject.toml README.md scrapy.cfg ./
COPY tilts ./tilts
COPY pipeline ./pipeline
COPY crawlers ./crawlers
COPY search ./search
COPY scheduler ./scheduler
COPY storage ./storage
COPY coverage ./coverage
COPY subscriptions ./subscriptions
COPY devtools ./devtools
RUN pip install --no-cache-dir . && useradd --create-home tilts && mkdir /data && chown tilts /data \
    && python -c "from pipeline.normalize.places import gazetteer; gazetteer()"
USER tilts
ENTRYPOINT ["tilts"]
CMD ["--help"]
