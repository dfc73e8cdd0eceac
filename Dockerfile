# tfi-data code location image: the package, its examples, and the Dagster CLI.
# Mount your dataloaders directory and point TFI_DATALOADERS_DIR at it.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/home \
    TFI_DATALOADERS_DIR=/opt/tfi-data/examples/dataloaders \
    TFI_CACHE_DIR=/opt/dagster/cache

WORKDIR /opt/tfi-data
COPY pyproject.toml setup.cfg README.md ./
COPY tfi_data ./tfi_data
RUN pip install --no-cache-dir .
COPY examples ./examples
COPY workspace.yaml ./
COPY deploy/dagster.yaml ${DAGSTER_HOME}/dagster.yaml

EXPOSE 4000
# The code server; the webserver and daemon run the same image with another command.
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "tfi_data.definitions"]
