# syntax=docker/dockerfile:1
# Two images from one file:
#   docker build -t recap .                        CPU (the default, last stage): bots, playground, a CPU worker
#   docker build --target gpu -t recap:gpu .       CUDA 12 + cuDNN 9, what CTranslate2 4.x's GPU wheels need
# torch is pinned to the version the test suite runs on (.ci/run); bump both together.
ARG TORCH_VERSION=2.13.0

FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04 AS gpu
ARG TORCH_VERSION
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 DEBIAN_FRONTEND=noninteractive HF_HOME=/models PATH=/opt/venv/bin:$PATH
RUN apt-get update && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
    && rm -rf /var/lib/apt/lists/* && python3.11 -m venv /opt/venv
WORKDIR /app
# PyPI's Linux torch wheel is the CUDA 12 build.
RUN pip install "torch==${TORCH_VERSION}"
COPY pyproject.toml README.md ./
COPY config config
COPY bot bot
COPY worker worker
COPY training training
COPY recap recap
RUN pip install .
# Writable by the recap user: /data (working directory: SQLite store, reports, runs) and /models (HF cache).
RUN useradd --create-home --uid 1000 recap && mkdir -p /data /models && chown recap:recap /data /models
USER recap
WORKDIR /data
CMD ["recap", "--help"]

FROM python:3.11-slim AS cpu
ARG TORCH_VERSION
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 HF_HOME=/models
WORKDIR /app
# The CPU wheel: a fraction of the CUDA build's size; the gpu target above has the CUDA one.
RUN pip install "torch==${TORCH_VERSION}" --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY config config
COPY bot bot
COPY worker worker
COPY training training
COPY recap recap
RUN pip install .
RUN useradd --create-home --uid 1000 recap && mkdir -p /data /models && chown recap:recap /data /models
USER recap
WORKDIR /data
CMD ["recap", "--help"]
