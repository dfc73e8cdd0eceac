# tfi-data image: the package, its bundled example dataloaders and the Dagster CLI. One image runs
# every role of the stack (compose.yaml): the code server (default command), the webserver, the
# daemon and one-off `tfi-data run` / `dagster job execute` runs. Mount your dataloaders at
# /opt/dataloaders (TFI_DATALOADERS_DIR). Build with `--format docker` under podman to keep the
# HEALTHCHECK (the OCI format has none).
#
#   docker build -t tfi-data:latest .
#   docker build --build-arg BASE_IMAGE=registry.example.com/python:3.11-slim-bookworm -t tfi-data .
ARG BASE_IMAGE=python:3.11-slim-bookworm

# --- deps: the pinned dependencies in a virtual environment. Only pyproject-independent inputs
# (the constraints file) go in, so this layer is rebuilt only when a pin changes.
FROM ${BASE_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
COPY deploy/constraints.txt /tmp/constraints.txt
# Install every pin, then drop what tfi-data never loads (about 120 MB): setuptools, pip's bytecode
# (pip stays for derived images), test suites, headers and Cython sources bundled in wheels,
# pyarrow's Flight and native S3 libraries (an s3:// cache goes through fsspec/s3fs instead),
# zstandard's second (cffi) backend, the web UI's source maps, and duplicate copies of pyarrow's
# shared libraries (symlinked instead).
RUN /opt/venv/bin/pip install --quiet -r /tmp/constraints.txt -c /tmp/constraints.txt \
 && /opt/venv/bin/pip uninstall --quiet --yes setuptools \
 && cd /opt/venv/lib/python3*/site-packages \
 && rm -rf pandas/tests numpy/*/tests numpy/tests pyarrow/tests pyarrow/include pyarrow/src pyarrow/includes \
           pyarrow/*.pyx pyarrow/*.pxd pyarrow/*flight* pyarrow/libarrow_s3.so* pyarrow/_s3fs.* \
           pyarrow/_pyarrow_cpp_tests.* zstandard/_cffi.* zstandard/backend_cffi.py \
 && find dagster_webserver -name '*.map' -delete \
 && find pip -name __pycache__ -prune -exec rm -rf {} + \
 && for real in pyarrow/lib*.so.*.*.*; do \
        for alias in "${real%.*.*}" "${real%%.so.*}.so"; do \
            if [ -f "$alias" ] && [ ! -L "$alias" ] && cmp -s "$alias" "$real"; then \
                ln -sf "${real##*/}" "$alias"; \
            fi; \
        done; \
    done

# --- build: the tfi-data wheel (no dependencies) from the source tree, installed apart (under
# /install, scripts pointing at /opt/venv/bin/python) so the runtime stage only copies files.
FROM deps AS build
RUN python -m venv /opt/build && /opt/build/bin/pip install --quiet "setuptools>=68,<81" "wheel>=0.40"
WORKDIR /src
COPY pyproject.toml setup.cfg README.md ./
COPY tfi_data ./tfi_data
# `pip check` fails the build when pyproject.toml needs a dependency the pins lack.
RUN /opt/build/bin/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir /wheels . \
 && /opt/venv/bin/pip install --quiet --no-deps --no-index --no-compile --prefix /install /wheels/*.whl \
 && /opt/venv/bin/python -m compileall -q /install \
 && { PYTHONPATH=$(echo /install/lib/python3*/site-packages) /opt/venv/bin/pip check \
      || { echo "deploy/constraints.txt does not satisfy pyproject.toml: run deploy/lock.py" >&2; exit 1; }; }

# --- runtime: the base image, the dependency layer, the wheel, a non-root user.
FROM ${BASE_IMAGE} AS runtime
ARG UID=10001
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/home \
    TFI_DATALOADERS_DIR=/opt/dataloaders \
    TFI_CACHE_DIR=/opt/dagster/cache \
    TFI_DATABASE_URL=sqlite:////var/lib/tfi-data/tfi_data.sqlite
RUN groupadd --system --gid ${UID} tfi \
 && useradd --system --uid ${UID} --gid tfi --home-dir /opt/dagster --no-create-home --shell /usr/sbin/nologin tfi \
 && mkdir -p /opt/dagster/home/storage /opt/dagster/cache /opt/dagster/local /var/lib/tfi-data /opt/dataloaders \
 && chown -R tfi:tfi /opt/dagster /var/lib/tfi-data
COPY --from=deps /opt/venv /opt/venv
# Everything below changes with the code only: a code change rebuilds from here.
COPY --from=build /install/ /opt/venv/
COPY --chown=tfi:tfi deploy/dagster.yaml /opt/dagster/home/dagster.yaml
COPY --chown=tfi:tfi dagster.yaml /opt/dagster/local/dagster.yaml
COPY deploy/workspace.yaml /opt/dagster/workspace.yaml
COPY deploy/entrypoint.sh /usr/local/bin/tfi-entrypoint
COPY examples/dataloaders /opt/dataloaders

USER tfi
WORKDIR /var/lib/tfi-data
# The cache of op outputs, the exported SQLite default, and Dagster's compute logs and artifacts.
VOLUME ["/opt/dagster/cache", "/var/lib/tfi-data", "/opt/dagster/home/storage"]
EXPOSE 4000 3000
ENTRYPOINT ["tfi-entrypoint"]
HEALTHCHECK --interval=15s --timeout=10s --start-period=60s --retries=3 \
    CMD ["dagster", "api", "grpc-health-check", "-p", "4000"]
# The code server; the webserver and daemon run the same image with another command.
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "tfi_data.definitions", \
     "--location-name", "tfi_data"]
