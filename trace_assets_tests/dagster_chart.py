"""What Dagster's Helm chart renders from deploy/helm/dagster-values.yaml, for the parts the
deploy tests check: the instance's dagster.yaml and the container context the chart gives the
code location's runs.

RENDERED BY HAND, NOT BY THE CHART. Dagster's chart is not on PyPI and cannot be fetched here, so
this module reproduces, template by template, what these files of dagster-io/dagster
`helm/dagster` render for the values this project uses (read from copies of the repository at
recent commits, not at the tag 1.13.27 itself; where copies disagree the comment says which one
this follows and why; the configmap's concurrency guard is as the chart's own
`test_concurrency.py` expects it):

- `templates/configmap-instance.yaml` (dagster.yaml: scheduler, the three PostgreSQL storages,
  run_launcher, run_coordinator, concurrency, telemetry; compute logs, run monitoring, retention
  and the other sections are left out: the values do not touch them),
- `templates/helpers/instance/_run-launcher.tpl` (`dagsterYaml.runLauncher.k8s`),
- `templates/helpers/instance/_run-coordinator.tpl` (`dagsterYaml.runCoordinator.queued`),
- `templates/helpers/instance/_concurrency.tpl` (`dagsterYaml.concurrency`, including its
  `fail` on conflicting run limits) and the configmap's `if .Values.concurrency.enabled` guard,
- `templates/helpers/instance/_postgresql.tpl`,
- `charts/dagster-user-deployments/templates/helpers/_helpers.tpl`
  (`dagsterUserDeployments.k8sContainerContext`), which the user deployment puts in
  `DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT` only when `includeConfigInLaunchedRuns.enabled`.

Helm semantics kept: values merge over the chart's defaults map by map, a list replaces a list;
`{{ if x }}` is false for null, false, 0, "" and empty collections, while `kindIs "invalid"` is
true only for null. Everything downstream of this module is the real code in the venv: dagster's
instance-config validation and dagster-k8s's K8sRunLauncher and K8sContainerContext.
"""

import copy

RELEASE = "dagster"  # `helm upgrade --install dagster ...`: the chart's fullname is then "dagster"
NAMESPACE = "dagster"  # `-n dagster`

# The chart's own defaults (helm/dagster/values.yaml) for every key the templates below read.
CHART_DEFAULTS = {
    "global": {
        "dagsterHome": "/opt/dagster/dagster_home",
        "postgresqlSecretName": "dagster-postgresql-secret",
        "serviceAccountName": "",
    },
    "serviceAccount": {"name": ""},
    "imagePullSecrets": [],
    "scheduler": {"type": "DagsterDaemonScheduler"},
    "runLauncher": {
        "type": "K8sRunLauncher",
        "config": {
            "k8sRunLauncher": {
                "loadInclusterConfig": True,
                "imagePullPolicy": "Always",
                "envConfigMaps": [],
                "envSecrets": [],
                "envVars": [],
                "volumeMounts": [],
                "volumes": [],
                "labels": {},
                "resources": {},
                "runK8sConfig": {},
            }
        },
    },
    "postgresql": {
        "postgresqlHost": "",
        "postgresqlUsername": "test",
        "postgresqlDatabase": "test",
        "postgresqlParams": {},
        "service": {"port": 5432},
    },
    "dagsterDaemon": {
        "enabled": True,
        "runCoordinator": {
            "enabled": True,
            "type": "QueuedRunCoordinator",
            "config": {"queuedRunCoordinator": {"maxConcurrentRuns": None, "tagConcurrencyLimits": []}},
        },
    },
    "concurrency": {
        "enabled": False,
        "pools": {"defaultLimit": None, "granularity": None, "opGranularityRunBuffer": None},
        "runs": {"maxConcurrentRuns": None, "tagConcurrencyLimits": []},
    },
    "telemetry": {"enabled": True},
    "dagster-user-deployments": {"deployments": []},
}


class ChartRenderError(Exception):
    """The chart itself would refuse these values (a `fail` in its templates)."""


def with_chart_defaults(values: dict) -> dict:
    """The values Helm hands the templates: ours merged over the chart's defaults."""
    return _merge(CHART_DEFAULTS, values)


def instance_yaml(values: dict) -> dict:
    """The dagster.yaml the chart writes into the `<release>-instance` ConfigMap."""
    v = with_chart_defaults(values)
    instance = {
        "scheduler": {"module": "dagster._core.scheduler", "class": "DagsterDaemonScheduler"},
        "schedule_storage": {"module": "dagster_postgres.schedule_storage", "class": "PostgresScheduleStorage",
                             "config": {"postgres_db": _postgres_config(v)}},
        "run_launcher": _k8s_run_launcher(v),
        "run_storage": {"module": "dagster_postgres.run_storage", "class": "PostgresRunStorage",
                        "config": {"postgres_db": _postgres_config(v)}},
        "event_log_storage": {"module": "dagster_postgres.event_log", "class": "PostgresEventLogStorage",
                              "config": {"postgres_db": _postgres_config(v)}},
    }
    if v["dagsterDaemon"]["enabled"] and v["dagsterDaemon"]["runCoordinator"]["enabled"]:
        instance["run_coordinator"] = _queued_run_coordinator(v)
    if v["concurrency"]["enabled"]:
        instance["concurrency"] = _concurrency(v)
    instance["telemetry"] = {"enabled": v["telemetry"]["enabled"]}
    return instance


def code_location_container_context(values: dict, deployment_name: str) -> dict | None:
    """The container context the chart gives the code location (and so every run it launches),
    or None when `includeConfigInLaunchedRuns` is off and the chart sets none."""
    v = with_chart_defaults(values)
    [deployment] = [d for d in v["dagster-user-deployments"]["deployments"] if d["name"] == deployment_name]
    if not deployment.get("includeConfigInLaunchedRuns", {"enabled": True})["enabled"]:
        return None
    k8s = {"image_pull_policy": deployment["image"]["pullPolicy"]}
    if v["imagePullSecrets"]:
        k8s["image_pull_secrets"] = v["imagePullSecrets"]
    k8s["env_config_maps"] = [f"{RELEASE}-{deployment['name']}-user-env"] + [
        ref["name"] for ref in deployment.get("envConfigMaps", []) if "name" in ref
    ]
    if deployment.get("envSecrets"):
        k8s["env_secrets"] = [ref["name"] for ref in deployment["envSecrets"] if "name" in ref]
    for key, field in (("volumeMounts", "volume_mounts"), ("volumes", "volumes"), ("labels", "labels"),
                       ("resources", "resources"), ("schedulerName", "scheduler_name")):
        if deployment.get(key):
            k8s[field] = deployment[key]
    k8s["namespace"] = NAMESPACE
    k8s["service_account_name"] = _service_account_name(v)
    if isinstance(deployment.get("env"), list) and deployment["env"]:
        k8s["env"] = deployment["env"]
    k8s["run_k8s_config"] = {"pod_spec_config": {"automount_service_account_token": True}}
    return {"k8s": k8s}


def _k8s_run_launcher(v: dict) -> dict:
    launcher = v["runLauncher"]["config"]["k8sRunLauncher"]
    config = {
        "load_incluster_config": launcher["loadInclusterConfig"],
        "job_namespace": launcher.get("jobNamespace") or NAMESPACE,
        "image_pull_policy": launcher["imagePullPolicy"],
    }
    if launcher.get("kubeconfigFile"):
        config["kubeconfig_file"] = launcher["kubeconfigFile"]
    if v["imagePullSecrets"]:
        config["image_pull_secrets"] = v["imagePullSecrets"]
    config["service_account_name"] = _service_account_name(v)
    config["dagster_home"] = v["global"]["dagsterHome"]
    config["instance_config_map"] = f"{RELEASE}-instance"
    config["postgres_password_secret"] = v["global"]["postgresqlSecretName"]
    if launcher["envConfigMaps"]:
        config["env_config_maps"] = [ref["name"] for ref in launcher["envConfigMaps"] if "name" in ref]
    if launcher["envSecrets"]:
        config["env_secrets"] = [ref["name"] for ref in launcher["envSecrets"] if "name" in ref]
    for key, field in (("envVars", "env_vars"), ("volumeMounts", "volume_mounts"), ("volumes", "volumes"),
                       ("labels", "labels"), ("resources", "resources"), ("schedulerName", "scheduler_name"),
                       ("securityContext", "security_context")):
        if launcher.get(key):
            config[field] = launcher[key]
    if launcher.get("failPodOnRunFailure"):
        config["fail_pod_on_run_failure"] = True
    run_k8s = launcher["runK8sConfig"]
    if run_k8s:
        config["run_k8s_config"] = {
            field: run_k8s[key]
            for key, field in (("containerConfig", "container_config"), ("podSpecConfig", "pod_spec_config"),
                               ("podTemplateSpecMetadata", "pod_template_spec_metadata"),
                               ("jobSpecConfig", "job_spec_config"), ("jobMetadata", "job_metadata"))
            if run_k8s.get(key)
        }
    return {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": config}


def _queued_run_coordinator(v: dict) -> dict:
    queued = v["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    concurrency_enabled = v["concurrency"]["enabled"]
    # Stored copies of this template disagree on `dagster.core` vs `dagster._core`; dagster 1.13
    # has only the latter, which is what its chart must render for the daemon to start.
    coordinator = {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator"}
    if not any(value not in (None, [], {}, "", False) for value in queued.values()):
        return coordinator  # `if not (empty (compact (values ...)))`: no config at all
    config = {}
    if not concurrency_enabled or queued.get("maxConcurrentRuns") is not None:
        config["max_concurrent_runs"] = -1 if queued.get("maxConcurrentRuns") is None else queued["maxConcurrentRuns"]
    if queued.get("tagConcurrencyLimits"):
        config["tag_concurrency_limits"] = queued["tagConcurrencyLimits"]
    for key, field in (("dequeueIntervalSeconds", "dequeue_interval_seconds"),
                       ("dequeueUseThreads", "dequeue_use_threads"), ("dequeueNumWorkers", "dequeue_num_workers")):
        if queued.get(key):
            config[field] = queued[key]
    if queued.get("blockOpConcurrencyLimitedRuns"):
        block = queued["blockOpConcurrencyLimitedRuns"]
        config["block_op_concurrency_limited_runs"] = {
            "enabled": block.get("enabled"), "op_concurrency_slot_buffer": block.get("opConcurrencySlotBuffer"),
        }
    coordinator["config"] = config
    return coordinator


def _concurrency(v: dict) -> dict:
    pools, runs = v["concurrency"]["pools"], v["concurrency"]["runs"]
    coordinator = v["dagsterDaemon"]["runCoordinator"]
    if coordinator["enabled"] and coordinator["type"] == "QueuedRunCoordinator":
        queued = coordinator["config"]["queuedRunCoordinator"]
        if runs.get("maxConcurrentRuns") is not None and queued.get("maxConcurrentRuns") is not None:
            raise ChartRenderError("Cannot set both concurrency.runs.maxConcurrentRuns and "
                                   "dagsterDaemon.runCoordinator.config.queuedRunCoordinator.maxConcurrentRuns")
        if runs.get("tagConcurrencyLimits") and queued.get("tagConcurrencyLimits"):
            raise ChartRenderError("Cannot set both concurrency.runs.tagConcurrencyLimits and "
                                   "dagsterDaemon.runCoordinator.config.queuedRunCoordinator.tagConcurrencyLimits")
    rendered = {}
    if pools.get("defaultLimit") is not None or pools.get("granularity") or pools.get("opGranularityRunBuffer") is not None:
        rendered["pools"] = {}
        if pools.get("defaultLimit") is not None:
            rendered["pools"]["default_limit"] = pools["defaultLimit"]
        if pools.get("granularity"):
            rendered["pools"]["granularity"] = pools["granularity"]
        if pools.get("opGranularityRunBuffer") is not None:
            rendered["pools"]["op_granularity_run_buffer"] = pools["opGranularityRunBuffer"]
    if runs.get("maxConcurrentRuns") is not None or runs.get("tagConcurrencyLimits"):
        rendered["runs"] = {}
        if runs.get("maxConcurrentRuns") is not None:
            rendered["runs"]["max_concurrent_runs"] = runs["maxConcurrentRuns"]
        if runs.get("tagConcurrencyLimits"):
            rendered["runs"]["tag_concurrency_limits"] = runs["tagConcurrencyLimits"]
    return rendered


def _postgres_config(v: dict) -> dict:
    pg = v["postgresql"]
    return {
        "username": pg["postgresqlUsername"],
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "hostname": pg["postgresqlHost"],  # `dagster.postgresql.host` with postgresql.enabled false
        "db_name": pg["postgresqlDatabase"],
        "port": pg["service"]["port"],
        "params": pg["postgresqlParams"],
    }


def _service_account_name(v: dict) -> str:
    return v["global"]["serviceAccountName"] or v["serviceAccount"]["name"] or RELEASE


def _merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
