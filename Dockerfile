FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
WORKDIR /app
# PyPI's Linux torch wheel is the CUDA build the GPU worker needs.
RUN pip install "torch>=2.3"
COPY pyproject.toml README.md ./
COPY config config
COPY bot bot
COPY worker worker
COPY training training
COPY recap recap
RUN pip install .
RUN useradd --create-home recap && mkdir -p /models && chown recap /models
USER recap
CMD ["recap", "--help"]
