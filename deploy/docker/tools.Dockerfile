# Redis and Prometheus from Debian's packages, one target each. BASE defaults to the public
# Debian image (the packages are then installed here); scripts/base-image.sh makes a local
# base that already holds them. Legacy builder only.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS tools
RUN if ! command -v redis-server >/dev/null || ! command -v prometheus >/dev/null; then \
        apt-get update && apt-get install -y --no-install-recommends redis-server prometheus \
        && rm -rf /var/lib/apt/lists/*; \
    fi

FROM tools AS redis
RUN mkdir -p /data && chown redis:redis /data
USER redis
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--dir", "/data", \
            "--appendonly", "yes", "--appendfsync", "everysec"]

FROM tools AS prometheus
RUN mkdir -p /prometheus && chown prometheus:prometheus /prometheus
USER prometheus
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["prometheus", "--config.file=/etc/prometheus/prometheus.yml", \
            "--storage.tsdb.path=/prometheus", "--web.listen-address=0.0.0.0:9090"]
