# syntax=docker/dockerfile:1
# Hearth's service image: one image for `hearth serve`, `hearth worker` and `hearth scheduler`
# (compose.cpu.yml, compose.gpu.yml). The builder stage compiles llama-cpp-python into a venv; the runtime
# stage copies only that venv, so no compiler ends up in the image.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder

# build-essential + cmake: llama-cpp-python compiles llama.cpp from source
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*

# CMAKE_ARGS: the multimodal part of llama.cpp is not used; skipping it halves the build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CMAKE_ARGS="-DLLAVA_BUILD=OFF" \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv \
    && pip install --no-cache-dir --upgrade pip wheel setuptools

# torch first and pinned: an unpinned torch pulled in by sentence-transformers would be a multi-GB CUDA build.
# Set TORCH_INDEX_URL to a CPU-only wheel index to keep the image small on x86_64.
ARG TORCH_INDEX_URL=""
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} torch==2.13.0

WORKDIR /src

# dependencies in their own layer, so a source change does not recompile llama.cpp
COPY pyproject.toml constraints.txt ./
RUN --mount=type=cache,target=/root/.cache/pip \
    python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt

COPY README.md ./
COPY api ./api
COPY configs ./configs
COPY inference ./inference
COPY indexing ./indexing
COPY storage ./storage
COPY workers ./workers
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install -c constraints.txt . \
    && hearth --help > /dev/null


FROM ${PYTHON_IMAGE} AS runtime

# libgomp1: the OpenMP runtime llama.cpp's CPU backend links against (not in the slim base)
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 hearth \
    && useradd --system --uid 10001 --gid hearth --create-home --home-dir /home/hearth \
        --shell /usr/sbin/nologin hearth \
    && mkdir -p /app /data \
    && chown hearth:hearth /app /data

COPY --from=builder /opt/venv /opt/venv

# nothing reaches a model hub or LiteLLM's cost-map URL at run time
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    TOKENIZERS_PARALLELISM=false \
    HEARTH_DATA_DIR=/data

WORKDIR /app
# created and chowned above, so a fresh named volume mounted here belongs to the hearth user
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8000

# liveness of `hearth serve`; compose gives worker and scheduler a check of their own
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["hearth", "serve", "--host", "0.0.0.0", "--port", "8000"]
