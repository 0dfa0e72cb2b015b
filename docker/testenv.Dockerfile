# The machine of a release leg of "make test" (util/test-release.sh, "make
# test-trixie"): a debootstrap base of the release (util/base-image.sh) with
# what the unit tests, the Test::Nginx suites, "make deb" and "make
# test-deb" need (util/deps.sh's groups), and Valkey where the release has
# it.  Not part of the sidecar image; podman's layer cache keeps it until
# util/deps.sh changes.
ARG BASE
FROM ${BASE}
ARG GROUPS="suites deb-test"
COPY util/deps.sh /usr/local/lib/v3xy/deps.sh
# a whole Debian, not a slim one: make test-deb checks the package's
# documentation, and lintian lives in /usr/share/lintian; tini as PID 1:
# it reaps what the suites leave to init (nginx's daemonized masters), which
# Test::Nginx waits to be gone
RUN rm -f /etc/dpkg/dpkg.cfg.d/slim \
 && /usr/local/lib/v3xy/deps.sh ${GROUPS} \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends tini
ENTRYPOINT ["/usr/bin/tini", "--"]
