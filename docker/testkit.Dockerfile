# Stand-ins for the images of docker/compose.yaml that are not ours (Redis,
# an app with curl), from Debian's packages, for "make docker-test" where no
# container registry is reachable.  Not part of the sidecar image.
ARG BASE=debian:trixie-slim
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        redis-server curl ca-certificates \
 && rm -rf /var/lib/apt/lists/*
USER nobody
CMD ["redis-server", "--save", "", "--appendonly", "no"]
