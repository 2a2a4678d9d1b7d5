# The app's one image: gunicorn by default; docker-compose.yml runs the worker, beat and
# migrations from it with other commands. Configured only through the environment (.env.example).
FROM python:3.11-slim

# MALLOC_ARENA_MAX: two malloc arenas per process, not eight per core: a worker's threads
# streaming large downloads otherwise each keep freed memory mapped in an arena of their own.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

RUN groupadd --system app \
    && useradd --system --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

# Dependencies first, so that a code change does not reinstall them. Every pinned package ships
# a manylinux wheel, so no compiler is needed.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# The secrets and services here exist only for this step (collectstatic needs settings, connects to
# nothing and needs no real key); they are not kept in the image's environment. var/ is where the
# embedded defaults would write.
RUN DJANGO_SETTINGS_MODULE=config.settings.production \
    DJANGO_SECRET_KEY=collectstatic-only-build-time-placeholder-never-used-at-runtime \
    FIELD_ENCRYPTION_KEYS=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    DATABASE_URL=postgres://build@build.invalid/build \
    REDIS_URL=redis://build.invalid:6379/0 \
    AWS_STORAGE_BUCKET_NAME=build \
    METRICS_TOKEN=collectstatic-only-build-time-placeholder \
    python manage.py collectstatic --noinput -v 0 \
    && mkdir -p var metrics \
    && chown -R app:app var metrics

ENV DJANGO_SETTINGS_MODULE=config.settings.production
# Prometheus multiprocess mode: every process of the app writes its counts here and /metrics adds
# them up (docker-compose.yml shares it between web and worker as a volume).
ENV PROMETHEUS_MULTIPROC_DIR=/app/metrics
USER app

EXPOSE 8000

CMD ["gunicorn", "--config", "python:config.gunicorn", "config.wsgi:application"]
