# The gateway image used by compose.yaml (web and worker run the same image).
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY handlers ./handlers
COPY templates ./templates
RUN pip install --no-cache-dir . && useradd --system --uid 10001 gateway
USER gateway
ENV GATEWAY_HOST=0.0.0.0 GATEWAY_TEMPLATES_DIR=/app/templates
EXPOSE 8080
CMD ["gateway", "serve"]
