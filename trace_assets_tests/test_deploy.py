"""deploy/: manifests and Helm values parse and validate offline, agree with each other and with
the code's defaults, and the image installs the pinned set the tests run with."""

import tomllib
from pathlib import Path

import yaml

from trace_assets.automation.pools import DEFAULT_JUDGE_POOL_LIMIT
from trace_assets.environments import build_resources
from trace_assets.resources.judge import JudgeResource
from trace_assets_tests.k8s_models import validate

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
CORE_KINDS = {"Namespace": "V1Namespace", "ConfigMap": "V1ConfigMap", "Secret": "V1Secret"}


def documents(relative: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((DEPLOY / relative).read_text()) if doc]


def manifest(relative: str, kind: str) -> dict:
    [found] = [doc for doc in documents(relative) if doc["kind"] == kind]
    return found


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
    predictor = isvc["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (3, 10)
    [container] = predictor["containers"]
    assert validate(container, "V1Container") == []
    assert {"--served-model-name=qwen3-judge", "--tensor-parallel-size=1", "--max-model-len=8192",
            "--gpu-memory-utilization=0.9"} <= set(container["args"])
    assert any(arg.startswith("--model=Qwen/Qwen3-4B") for arg in container["args"])
    resources = container["resources"]
    assert resources["requests"] == {"nvidia.com/gpu": "1", "memory": "16Gi"}
    assert resources["limits"] == {"nvidia.com/gpu": "1", "memory": "24Gi"}


def test_keda_scales_on_the_queue_metric_vllm_really_exports():
    scaler = manifest("kserve/reward-labeler-scaler.yaml", "ScaledObject")
    assert scaler["apiVersion"] == "keda.sh/v1alpha1"
    [trigger] = scaler["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    assert all(isinstance(value, str) for value in trigger["metadata"].values()), "KEDA wants string metadata"
    assert "vllm:num_requests_waiting" in trigger["metadata"]["query"]
    assert "vllm_requests_running" not in trigger["metadata"]["query"]
    monitor = manifest("kserve/reward-labeler-scaler.yaml", "PodMonitor")
    assert validate(monitor["spec"]["selector"], "V1LabelSelector") == []


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
    assert 'pip install -c constraints.txt ".[deploy,offline]"' in dockerfile
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
    assert {"dagster", "dagster-k8s", "dagster-postgres", "pyiceberg", "ragas", "openai"} <= pinned
