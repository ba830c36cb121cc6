# syntax=docker/dockerfile:1
#
# One image for every riskapp service (web, worker-gpu, worker-cpu, beat, migrate):
# docker-compose.yml runs it with a different command for each. No secret is baked in:
# SECRET_KEY, DATABASE_URL and the rest come from the environment at run time.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RISKAPP_DATA_DIR=/data

# bubblewrap: the job sandbox runs each untrusted-model job under bwrap where the
# container allows user namespaces (see docker-compose.yml, worker services).
# Pango (and a font): WeasyPrint draws the report's PDF with them.
# Unpinned on purpose: the version follows bookworm's security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# Fixed ids so the shared /data volume has the same owner on every host.
RUN groupadd --system --gid 10001 riskapp \
    && useradd --system --uid 10001 --gid riskapp --create-home --home-dir /home/riskapp \
       --shell /usr/sbin/nologin riskapp

WORKDIR /app

# Dependencies first, so a code change does not reinstall torch.
# TORCH_INDEX_URL (optional) adds an extra index for torch's build variant. Empty (the
# default) takes requirements.txt's torch==2.14.1 and torchvision==0.29.1 from PyPI: CUDA
# builds that also run on the CPU (what worker-gpu needs), and the pair torchvision, timm
# and transformers import beside. For a smaller CPU-only image, build with
#   --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# so the exact pins resolve to that index's +cpu builds of the same versions (not tried
# from the project's CI machines, which reach PyPI only).
ARG TORCH_INDEX_URL=""
COPY requirements.txt ./
RUN pip install ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} -r requirements.txt

# The code is owned by root and read-only to the riskapp user; only /data is writable.
COPY . .

# Static files are collected once, at build time. The key below is a throwaway that exists
# only inside this RUN command (never in an ENV layer); it signs nothing and settings need
# one to import with DEBUG=0. ALLOWED_HOSTS likewise only satisfies the settings check.
RUN SECRET_KEY=build-only-collectstatic-key-not-a-secret-never-used-at-runtime \
    DEBUG=0 ALLOWED_HOSTS=build.invalid \
    python manage.py collectstatic --noinput \
    && mkdir -p /data \
    && chown -R riskapp:riskapp /data

# Uploads, job outputs and the beat schedule live here. A new named volume is seeded from
# this directory, so it starts owned by riskapp.
VOLUME ["/data"]

# Numeric (riskapp:riskapp) so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001

EXPOSE 8000

CMD ["gunicorn", "riskapp.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "60"]
