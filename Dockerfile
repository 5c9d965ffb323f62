# syntax=docker/dockerfile:1
# Elson's image: the same package `elson up` runs, for the RayService, the RayJob template,
# the migration Job and `docker run ... elson up`. Non-root, no compilers, no curl.
#
# The base is pinned by version; CI resolves and records its digest at build time
# (.github/workflows/deliver.yml pins it with --build-arg PYTHON_IMAGE=python@sha256:...).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

ARG NODE_IMAGE=node:20.20-bookworm-slim

# The web console (serve/console): built from its lock, served by the API at /console.
FROM ${NODE_IMAGE} AS console
WORKDIR /console
COPY serve/console/package.json serve/console/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY serve/console/tsconfig.json ./
COPY serve/console/scripts ./scripts
COPY serve/console/static ./static
COPY serve/console/src ./src
RUN npm run build

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY domain ./domain
COPY cluster ./cluster
COPY actors ./actors
COPY serve ./serve
COPY --from=console /console/dist ./serve/console/dist
COPY jobs ./jobs
COPY migrations ./migrations
# runtime dependencies only, at the versions the tests ran (the lock as constraints)
RUN python -m venv /opt/elson \
    && /opt/elson/bin/pip install --constraint requirements.lock . \
    && /opt/elson/bin/pip check

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/elson/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ELSON_ENV=production \
    ELSON_HTTP_HOST=0.0.0.0
RUN groupadd --gid 1000 elson \
    && useradd --uid 1000 --gid 1000 --create-home --home-dir /home/elson --shell /usr/sbin/nologin elson
COPY --from=build /opt/elson /opt/elson
USER 1000:1000
WORKDIR /home/elson
EXPOSE 8000 8080 8265 6379 10001
# Docker's own check for `docker run`; Kubernetes uses the probes in kuberay/. In Python:
# the image has no curl or wget.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as u; sys.exit(0 if u.urlopen('http://127.0.0.1:8000/healthz', timeout=3).status == 200 else 1)"]
CMD ["elson", "up"]
