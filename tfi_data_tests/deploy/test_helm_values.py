"""deploy/helm/values.yaml: values for Dagster's official chart naming the tfi-data image, the
dataloaders mount and the PostgreSQL settings the chart expects (no cluster here: the file is
checked against the chart's value names and against the image it deploys)."""

from __future__ import annotations

import re

import yaml

from tfi_data_tests.conftest import REPO

VALUES = REPO / "deploy" / "helm" / "values.yaml"

# Field names of a user deployment in the chart's schema (schema/charts/dagster_user_deployments).
USER_DEPLOYMENT_FIELDS = {
    "name", "image", "dagsterApiGrpcArgs", "codeServerArgs", "includeConfigInLaunchedRuns", "deploymentNamespace",
    "port", "replicaCount", "env", "envConfigMaps", "envSecrets", "annotations", "nodeSelector", "affinity",
    "tolerations", "podSecurityContext", "securityContext", "resources", "livenessProbe", "readinessProbe",
    "startupProbe", "labels", "volumeMounts", "volumes", "schedulerName", "initContainers", "sidecarContainers",
    "deploymentStrategy",
}  # fmt: skip


def _dockerfile_env() -> dict[str, str]:
    text = (REPO / "Dockerfile").read_text()
    return dict(re.findall(r"^\s+(\w+)=(\S+?)\s*\\?$", text, flags=re.M))


def test_values_name_image_mount_and_postgres_the_chart_expects() -> None:
    values = yaml.safe_load(VALUES.read_text())
    user = values["dagster-user-deployments"]
    assert user["enabled"] is True
    (deployment,) = user["deployments"]
    assert set(deployment) <= USER_DEPLOYMENT_FIELDS, set(deployment) - USER_DEPLOYMENT_FIELDS

    assert deployment["image"]["repository"].endswith("/tfi-data")
    assert deployment["image"]["tag"] not in ("", "latest")
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "tfi_data.definitions"]
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}

    # The dataloaders: a read-only volume mounted where TFI_DATALOADERS_DIR points.
    env = {e["name"]: e["value"] for e in deployment["env"]}
    mounts = {m["mountPath"]: m for m in deployment["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["volumes"]}
    dataloaders = mounts[env["TFI_DATALOADERS_DIR"]]
    assert dataloaders["readOnly"] is True and dataloaders["name"] in volumes
    assert mounts[env["TFI_CACHE_DIR"]]["name"] in volumes

    # The same paths, home and user as the image.
    image_env = _dockerfile_env()
    assert env["TFI_DATALOADERS_DIR"] == image_env["TFI_DATALOADERS_DIR"]
    assert env["TFI_CACHE_DIR"] == image_env["TFI_CACHE_DIR"]
    assert values["dagsterHome"] == image_env["DAGSTER_HOME"]
    uid = re.search(r"^ARG UID=(\d+)$", (REPO / "Dockerfile").read_text(), flags=re.M).group(1)
    assert deployment["podSecurityContext"]["runAsUser"] == int(uid)

    # PostgreSQL: an external server named the chart's way; the password only through a secret.
    pg = values["postgresql"]
    assert pg["enabled"] is False
    assert {"postgresqlHost", "postgresqlUsername", "postgresqlDatabase"} <= set(pg)
    assert pg["service"]["port"] == 5432
    assert "postgresqlPassword" not in pg
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]
    assert {"name": "tfi-data-database"} in deployment["envSecrets"]

    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert values["pythonLogs"]["managedPythonLoggers"] == ["tfi_dataloaders"]
