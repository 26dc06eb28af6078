# collsync in a small image, run as a non-root user, its state on a volume (deploy/cronjob.yaml):
#   docker build -t registry.example.com/collsync:0.1.0 .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN groupadd --system --gid 10001 collsync \
    && useradd --system --uid 10001 --gid collsync --home-dir /var/lib/collsync \
        --shell /usr/sbin/nologin collsync \
    && install -d -o collsync -g collsync -m 0700 /var/lib/collsync
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl && rm -rf /wheels
USER 10001:10001
WORKDIR /var/lib/collsync
VOLUME ["/var/lib/collsync"]
ENTRYPOINT ["collsync"]
CMD ["--help"]
