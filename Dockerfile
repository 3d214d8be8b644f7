# gatescope: one Streamlit process serving the explorer, for Docker or Kubernetes (deploy/k8s/).
#   docker build -t gatescope . && docker run -p 8501:8501 gatescope
# One process uses about one core (Python's GIL); scale with more containers or replicas,
# or, on one machine without an orchestrator, use `python -m explorer.serve` instead.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# a user to run as; then the CPU build of torch (PyPI's default Linux wheel bundles CUDA: gigabytes this
# app never uses), so that requirements.txt finds torch==2.13.0 installed
RUN useradd --create-home --uid 10001 gatescope \
    && pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

# the code stays root-owned: the app user can read it, not change it
COPY . .
USER 10001

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() != b'ok')"]
# run from /app, so Streamlit reads /app/.streamlit/config.toml
CMD ["streamlit", "run", "explorer/app.py", "--server.port=8501", "--server.address=0.0.0.0", "--server.headless=true", "--server.fileWatcherType=none"]
