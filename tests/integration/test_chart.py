"""The chart as rendered by the real Helm v4: lint, the invariants every environment keeps, the schema, the docs.

"Identical stack" is checked here: every environment (stacks/local, stacks/sim, stacks/prod and its GPU-sharing
variants) renders the same images and the same locked models; only sizes, GPUs and exposure differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from app.settings import Settings
from scripts import chart_docs
from tests.fixtures.chart.helm import (
    CHART,
    ENVIRONMENTS,
    FIXTURE_LOCK,
    STACKS,
    configmap_data,
    containers,
    find,
    helm,
    lock_values,
    one,
    pod_specs,
    render_error,
    template,
    values_args,
    values_files,
    write_values,
)

WITH_OLLAMA = [env for env in ENVIRONMENTS if env != "local-keynote"]
GPU_LIMITS = {  # what Ollama's container limits carry besides CPU and memory, per environment
    "local": {},
    "local-keynote": None,  # no Ollama at all
    "sim": {"nvidia.com/gpu": 1},
    "prod": {"nvidia.com/gpu": 1},
    "prod-mig": {"nvidia.com/mig-1g.10gb": 1},
    "prod-time-slicing": {"nvidia.com/gpu.shared": 1},
    "prod-dra": {},  # the GPU comes from a ResourceClaim instead
    "prod-rehearsal": {"nvidia.com/gpu": 1},
}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


KUBE_DNS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
DNS_PORTS = [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]


@pytest.fixture(scope="module")
def lock_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lock_values(tmp_path_factory.mktemp("lock") / "lock-values.yaml")


@pytest.fixture(scope="module")
def rendered(lock_file: Path) -> dict[str, list[dict[str, Any]]]:
    """Every environment rendered once with the fixture lock (a vision model and a mirrored created model)."""
    return {env: template(env, lock_file) for env in ENVIRONMENTS}


def ollama_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    spec = one(docs, "Deployment", "ollama")["spec"]["template"]["spec"]
    (container,) = [c for c in spec["containers"] if c["name"] == "ollama"]
    return container


# --- lint ------------------------------------------------------------------------------------------------


def test_every_values_file_under_stacks_belongs_to_an_environment_under_test() -> None:
    tested = {f for files in ENVIRONMENTS.values() for f in files}
    assert values_files() == tested


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_helm_lint_strict_passes(env: str, lock_file: Path) -> None:
    proc = helm("lint", "--strict", str(CHART), *values_args(env, lock_file))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


def test_helm_lint_strict_passes_with_the_chart_defaults_alone() -> None:
    proc = helm("lint", "--strict", str(CHART))
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- the identical stack ---------------------------------------------------------------------------------


def images(docs: list[dict[str, Any]]) -> set[str]:
    return {c["image"] for _, spec in pod_specs(docs) for c in containers(spec)}


def test_every_image_is_pinned_by_digest(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for env, docs in rendered.items():
        for image in images(docs):
            _, sep, digest = image.partition("@")
            assert sep and digest.startswith("sha256:") and len(digest) == 71, f"{env}: {image}"


def test_every_environment_runs_the_same_images(rendered: dict[str, list[dict[str, Any]]]) -> None:
    reference = images(rendered["prod"])
    assert len(reference) == 3  # Ollama (server and its init container), its API gate, the app (page, helm test)
    for env in WITH_OLLAMA:
        assert images(rendered[env]) == reference, env
    app_image = one(rendered["prod"], "Deployment", "app")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert images(rendered["local-keynote"]) == {app_image}


def test_every_environment_provisions_the_same_locked_models(rendered: dict[str, list[dict[str, Any]]]) -> None:
    lists = {env: configmap_data(rendered[env], "ollama")["models.list"] for env in WITH_OLLAMA}
    assert len(set(lists.values())) == 1, lists
    refs = [line.split()[0] for line in lists["prod"].splitlines()]
    assert refs == ["moondream:latest", "snap2prod/smollm2:135m"]


def test_no_environment_file_carries_its_own_lock_or_images() -> None:
    for rel in values_files():
        values = yaml.safe_load((STACKS / rel).read_text()) or {}
        assert "lock" not in values.get("models", {}), rel
        assert "image" not in values.get("ollama", {}), rel
        assert "image" not in values.get("app", {}), rel


def test_a_lock_from_another_ollama_version_is_refused(tmp_path: Path) -> None:
    lock = yaml.safe_load(FIXTURE_LOCK.read_text()) | {"ollama_version": "0.23.1"}
    other = write_values(tmp_path / "lock.yaml", {"models": {"lock": lock}})
    error = render_error("prod", other)
    assert "models.lock was taken from Ollama 0.23.1 but the chart runs ollama/ollama:0.34.0" in error


# --- GPU only where it is enabled -------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_ollama_requests_a_gpu_resource_only_where_the_gpu_is_enabled(
    env: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    docs = rendered[env]
    expected = GPU_LIMITS[env]
    if expected is None:
        assert find(docs, "Deployment", "ollama") == []
        return
    limits = ollama_container(docs)["resources"].get("limits", {})
    assert {k: v for k, v in limits.items() if k not in ("cpu", "memory", "ephemeral-storage")} == expected


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_pod_but_ollama_asks_for_an_accelerator_or_tolerates_the_gpu_taint(
    env: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    for name, spec in pod_specs(rendered[env]):
        if "-ollama" in name:
            continue
        for container in containers(spec):
            resources = container.get("resources", {})
            asked = {**resources.get("requests", {}), **resources.get("limits", {})}
            assert not [k for k in asked if "/" in k], f"{env} {name}: {asked}"
            assert "claims" not in resources
        assert GPU_TOLERATION not in spec.get("tolerations", []), f"{env} {name}"


def test_cpu_only_ollama_neither_selects_nor_tolerates_gpu_nodes(rendered: dict[str, list[dict[str, Any]]]) -> None:
    spec = one(rendered["local"], "Deployment", "ollama")["spec"]["template"]["spec"]
    assert "tolerations" not in spec
    assert "nodeSelector" not in spec
    assert "runtimeClassName" not in spec


def test_gpu_ollama_selects_gpu_nodes_and_tolerates_their_taint(rendered: dict[str, list[dict[str, Any]]]) -> None:
    spec = one(rendered["prod"], "Deployment", "ollama")["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert spec["tolerations"] == [GPU_TOLERATION]
    assert spec["runtimeClassName"] == "nvidia"


def test_mig_values_add_the_mixed_strategy_node_label(rendered: dict[str, list[dict[str, Any]]]) -> None:
    spec = one(rendered["prod-mig"], "Deployment", "ollama")["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true", "nvidia.com/mig.strategy": "mixed"}


def test_dra_values_claim_the_gpu_through_a_resource_claim_template(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["prod-dra"]
    claim_template = one(docs, "ResourceClaimTemplate")
    assert claim_template["apiVersion"] == "resource.k8s.io/v1"
    (request,) = claim_template["spec"]["spec"]["devices"]["requests"]
    assert request["exactly"]["deviceClassName"] == "gpu.nvidia.com"
    assert request["exactly"]["count"] == 1
    spec = one(docs, "Deployment", "ollama")["spec"]["template"]["spec"]
    assert spec["resourceClaims"] == [{"name": "gpu", "resourceClaimTemplateName": claim_template["metadata"]["name"]}]
    assert ollama_container(docs)["resources"]["claims"] == [{"name": "gpu"}]
    assert "runtimeClassName" not in spec


def test_only_dra_values_render_a_resource_claim_template(rendered: dict[str, list[dict[str, Any]]]) -> None:
    assert [env for env, docs in rendered.items() if find(docs, "ResourceClaimTemplate")] == ["prod-dra"]


# --- pod security ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_pod_meets_the_restricted_pod_security_standard(
    env: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    pods = list(pod_specs(rendered[env]))
    assert len(pods) == (2 if env == "local-keynote" else 3)  # app, helm test (, Ollama)
    for name, spec in pods:
        where = f"{env} {name}"
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True, where
        assert pod_sc["runAsUser"] > 0, where
        assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), where
        assert not [v for v in spec.get("volumes", []) if "hostPath" in v], where
        assert spec["automountServiceAccountToken"] is False, where
        for container in containers(spec):
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, f"{where} {container['name']}"
            assert sc["capabilities"]["drop"] == ["ALL"], f"{where} {container['name']}"
            assert "add" not in sc["capabilities"], f"{where} {container['name']}"
            assert not sc.get("privileged"), f"{where} {container['name']}"
            assert sc["readOnlyRootFilesystem"] is True, f"{where} {container['name']}"
            assert not [p for p in container.get("ports", []) if "hostPort" in p], f"{where} {container['name']}"


def test_ollama_writes_only_to_its_volumes(rendered: dict[str, list[dict[str, Any]]]) -> None:
    container = ollama_container(rendered["prod"])
    env = {e["name"]: e.get("value") for e in container["env"]}
    mounts = {m["mountPath"]: m.get("readOnly", False) for m in container["volumeMounts"]}
    assert (env["OLLAMA_MODELS"], env["HOME"], env["TMPDIR"]) == ("/models", "/home/ollama", "/tmp")
    assert {path: ro for path, ro in mounts.items() if not ro} == {
        "/models": False,
        "/home/ollama": False,
        "/tmp": False,
    }


# --- network exposure ------------------------------------------------------------------------------------


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


def pod_labels(docs: list[dict[str, Any]], kind: str, component: str) -> dict[str, str]:
    return dict(one(docs, kind, component)["spec"]["template"]["metadata"]["labels"])


@pytest.mark.parametrize("env", WITH_OLLAMA)
def test_the_network_policy_admits_only_the_app_and_the_helm_test_to_ollama(
    env: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    docs = rendered[env]
    ollama = pod_labels(docs, "Deployment", "ollama")
    policies = [p for p in find(docs, "NetworkPolicy") if selects(p["spec"]["podSelector"], ollama)]
    assert len(policies) == 1
    (policy,) = policies
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    peers = rule["from"]
    assert all(set(peer) == {"podSelector"} for peer in peers)  # no namespaces, no IP blocks
    app, test = pod_labels(docs, "Deployment", "app"), one(docs, "Pod", "smoke-test")["metadata"]["labels"]
    admitted = {
        name
        for name, labels in (("app", app), ("test", test), ("ollama", ollama))
        if any(selects(peer["podSelector"], labels) for peer in peers)
    }
    assert admitted == {"app", "test"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_ollama_service_is_a_load_balancer_or_node_port(env: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    services = find(rendered[env], "Service", "ollama")
    assert len(services) == (0 if env == "local-keynote" else 1)
    for service in services:
        assert service["spec"]["type"] == "ClusterIP"
        assert not [p for p in service["spec"]["ports"] if "nodePort" in p]


def test_the_ollama_service_type_cannot_be_set() -> None:
    error = render_error("prod", sets=["ollama.service.type=LoadBalancer"])
    assert "at '/ollama/service': additional properties 'type' not allowed" in error


def test_prod_serves_the_page_over_tls(rendered: dict[str, list[dict[str, Any]]]) -> None:
    ingress = one(rendered["prod"], "Ingress")
    assert ingress["spec"]["tls"] == [{"hosts": ["snap2prod.example.com"], "secretName": "snap2prod-tls"}]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == one(rendered["prod"], "Service", "app")["metadata"]["name"]


def test_kind_maps_the_app_node_port_to_localhost_8501(rendered: dict[str, list[dict[str, Any]]]) -> None:
    kind = yaml.safe_load((STACKS / "local" / "kind.yaml").read_text())
    mappings = {m["containerPort"]: m for m in kind["nodes"][0]["extraPortMappings"]}
    ports = {p["name"]: p for p in one(rendered["local"], "Service", "app")["spec"]["ports"]}
    assert set(ports) == {"http", "metrics"}  # metrics gets a node port of the cluster's choosing, mapped nowhere
    port = ports["http"]
    assert port["nodePort"] in mappings
    assert (mappings[port["nodePort"]]["hostPort"], mappings[port["nodePort"]]["listenAddress"]) == (8501, "127.0.0.1")


# --- the app's settings and where it finds Ollama --------------------------------------------------------


def settings_env_names() -> set[str]:
    """The environment variables app/settings.py reads: Ollama's own names (aliases), else SNAP2PROD_<FIELD>."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    return {
        str(field.validation_alias) if isinstance(field.validation_alias, str) else f"{prefix}{name}".upper()
        for name, field in Settings.model_fields.items()
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_app_configmap_uses_the_names_app_settings_reads(
    env: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    names = set(configmap_data(rendered[env], "app"))
    assert "OLLAMA_HOST" in names
    assert names <= settings_env_names(), names - settings_env_names()


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_cluster_page_offers_pull(env: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    assert configmap_data(rendered[env], "app")["SNAP2PROD_ALLOW_PULL"] == "false"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_cluster_page_has_a_live_interval_floor_and_prod_limits_each_person(
    env: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    data = configmap_data(rendered[env], "app")
    assert data["SNAP2PROD_LIVE_MIN_INTERVAL_S"] == "5"  # a laptop's page offers 1 s
    limits = (data["SNAP2PROD_FAIR_USE_RUNNING"], data["SNAP2PROD_FAIR_USE_PER_MINUTE"])
    assert limits == (("2", "30") if env.startswith("prod") else ("0", "0"))


@pytest.mark.parametrize("env", WITH_OLLAMA)
def test_the_app_reaches_ollama_through_its_service(env: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered[env]
    service = one(docs, "Service", "ollama")
    (port,) = service["spec"]["ports"]
    expected = f"http://{service['metadata']['name']}:{port['port']}"
    assert configmap_data(docs, "app")["OLLAMA_HOST"] == expected
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels(docs, "Deployment", "ollama"))


def test_keynote_mode_renders_no_ollama_and_points_the_app_at_the_host(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    docs = rendered["local-keynote"]
    assert [d for d in docs if d["metadata"]["labels"].get("app.kubernetes.io/component") == "ollama"] == []
    assert configmap_data(docs, "app")["OLLAMA_HOST"] == "http://host.docker.internal:11434"


def test_external_ollama_without_a_host_is_refused_with_what_to_set() -> None:
    error = render_error("local", sets=["ollama.enabled=false"])
    assert "ollama.enabled is false (external Ollama) but ollama.externalHost is empty" in error


def test_the_helm_test_reads_the_apps_own_settings(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["prod"]
    test = one(docs, "Pod", "smoke-test")
    assert test["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert test["spec"]["restartPolicy"] == "Never" and test["spec"]["activeDeadlineSeconds"] == 600
    (container,) = test["spec"]["containers"]
    assert container["envFrom"] == [{"configMapRef": {"name": one(docs, "ConfigMap", "app")["metadata"]["name"]}}]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["SNAP2PROD_TEST_MODEL"] == "moondream:latest"  # the lock's first vision model
    assert env["SNAP2PROD_APP_URL"] == f"http://{one(docs, 'Service', 'app')['metadata']['name']}:8501"


# --- model provisioning from the lock ---------------------------------------------------------------------


def model_list(docs: list[dict[str, Any]]) -> list[list[str]]:
    return [line.split() for line in configmap_data(docs, "ollama")["models.list"].splitlines()]


def test_direct_pulls_expect_the_locked_digest(rendered: dict[str, list[dict[str, Any]]]) -> None:
    lock = yaml.safe_load(FIXTURE_LOCK.read_text())
    moondream, smollm2 = lock["models"]
    assert model_list(rendered["prod"]) == [
        [
            "moondream:latest",
            "moondream:latest",
            moondream["digest"],
            "-",
            "registry.ollama.ai/library/moondream/latest",
        ],
        [
            "snap2prod/smollm2:135m",
            "snap2prod/smollm2:135m",
            smollm2["digest"],
            smollm2["mirror_digest"],
            "registry.ollama.ai/snap2prod/smollm2/135m",
        ],
    ]


def test_mirrored_pulls_expect_the_mirror_digest(lock_file: Path) -> None:
    lock = yaml.safe_load(FIXTURE_LOCK.read_text())
    moondream, smollm2 = lock["models"]
    docs = template("prod", lock_file, sets=["models.registry=10.0.0.5:5000/snap2prod", "models.insecure=true"])
    rows = model_list(docs)
    assert [row[:4] for row in rows] == [
        ["moondream:latest", "10.0.0.5:5000/snap2prod/moondream:latest", moondream["digest"], "-"],
        ["snap2prod/smollm2:135m", "10.0.0.5:5000/snap2prod/smollm2:135m", smollm2["mirror_digest"], smollm2["digest"]],
    ]
    init = one(docs, "Deployment", "ollama")["spec"]["template"]["spec"]["initContainers"][0]
    assert {"name": "SNAP2PROD_PULL_INSECURE", "value": "true"} in init["env"]


def test_provisioning_is_an_init_container_of_ollama_running_the_same_image(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    spec = one(rendered["prod"], "Deployment", "ollama")["spec"]["template"]["spec"]
    (init,) = spec["initContainers"]
    assert init["name"] == "pull-models"
    assert init["command"] == ["/bin/sh", "/opt/snap2prod/pull-models.sh"]
    assert init["image"] == ollama_container(rendered["prod"])["image"]
    assert {"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"} in init["env"]  # the image's "all" would leak GPUs
    assert "limits" not in init["resources"] or not [k for k in init["resources"]["limits"] if "/" in k]
    assert "lifecycle" not in ollama_container(rendered["prod"])  # no postStart hook


def test_a_new_lock_rolls_a_new_ollama_pod(lock_file: Path, tmp_path: Path) -> None:
    lock = yaml.safe_load(FIXTURE_LOCK.read_text())
    lock["models"][0]["digest"] = "sha256:" + "1" * 64
    relocked = write_values(tmp_path / "lock.yaml", {"models": {"lock": lock}})

    def checksum(*extra: Path) -> str:
        ollama = one(template("prod", *extra), "Deployment", "ollama")
        return str(ollama["spec"]["template"]["metadata"]["annotations"]["checksum/models"])

    assert checksum(lock_file) != checksum(relocked)


def test_ollama_is_a_single_recreated_pod_with_its_models_on_a_claim(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    docs = rendered["prod"]
    deployment = one(docs, "Deployment", "ollama")
    assert (deployment["spec"]["replicas"], deployment["spec"]["strategy"]) == (1, {"type": "Recreate"})
    claim = one(docs, "PersistentVolumeClaim", "ollama")
    assert claim["spec"]["resources"]["requests"]["storage"] == "100Gi"
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["models"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]


def _pod_spec(docs: list[dict[str, Any]], kind: str, component: str) -> dict[str, Any]:
    return dict(one(docs, kind, component)["spec"]["template"]["spec"])


@pytest.mark.parametrize("env", WITH_OLLAMA)
def test_ollama_listens_on_loopback_and_only_its_api_gate_has_a_port(
    env: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    spec = _pod_spec(rendered[env], "Deployment", "ollama")
    by_name = {c["name"]: c for c in spec["containers"]}
    assert set(by_name) == {"ollama", "api-gate"}
    env_vars = {e["name"]: e.get("value") for e in by_name["ollama"]["env"]}
    assert env_vars["OLLAMA_HOST"] == "127.0.0.1:11435" and "ports" not in by_name["ollama"]
    assert by_name["api-gate"]["ports"] == [{"name": "http", "containerPort": 11434, "protocol": "TCP"}]
    assert by_name["api-gate"]["command"][:1] == ["nginx"]
    service = one(rendered[env], "Service", "ollama")
    assert service["spec"]["ports"][0]["targetPort"] == "http"  # the gate's port
    config = one(rendered[env], "ConfigMap", "api-gate")["data"]["api-gate.conf"]
    assert "server 127.0.0.1:11435;" in config and "listen 11434;" in config


def test_without_the_gate_ollama_listens_on_the_pod_port_as_before(lock_file: Path) -> None:
    docs = template("prod", lock_file, sets=["apiGate.enabled=false"])
    (ollama,) = _pod_spec(docs, "Deployment", "ollama")["containers"]
    assert {e["name"]: e.get("value") for e in ollama["env"]}["OLLAMA_HOST"] == "0.0.0.0:11434"
    assert ollama["ports"] == [{"name": "http", "containerPort": 11434, "protocol": "TCP"}]
    assert find(docs, "ConfigMap", "api-gate") == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_page_offers_the_locked_models_only(env: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    """tests/fixtures/chart/models.lock names moondream:latest and snap2prod/smollm2:135m."""
    settings, lock = one(rendered[env], "ConfigMap", "app"), one(rendered[env], "ConfigMap", "app-lock")
    assert settings["data"]["SNAP2PROD_MODELS_FILE"] == "/etc/snap2prod/lock/models"
    assert settings["data"]["SNAP2PROD_ALLOW_PULL"] == "false"
    assert lock["data"]["models"] == "moondream:latest,snap2prod/smollm2:135m"
    spec = one(rendered[env], "Deployment", "app")["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert mounts["lock"] == "/etc/snap2prod/lock"
    assert {v["name"]: v.get("configMap", {}).get("name") for v in spec["volumes"]}["lock"] == lock["metadata"]["name"]


def test_probes_check_the_api_and_the_locked_models(rendered: dict[str, list[dict[str, Any]]]) -> None:
    container = ollama_container(rendered["prod"])
    check = ["/bin/sh", "/opt/snap2prod/models-present.sh"]
    assert container["startupProbe"]["exec"]["command"] == check
    assert container["readinessProbe"]["exec"]["command"] == check
    # the gate's port (a named port of another container is no port of Ollama's): a 502 there is Ollama gone
    assert container["livenessProbe"]["httpGet"] == {"path": "/api/version", "port": 11434}
    app = one(rendered["prod"], "Deployment", "app")["spec"]["template"]["spec"]["containers"][0]
    for probe in ("startupProbe", "readinessProbe"):
        assert app[probe]["httpGet"] == {"path": "/_stcore/health", "port": "http"}
    assert app["livenessProbe"]["tcpSocket"] == {"port": "http"}  # alive = accepts connections; never restarted
    # with its sessions for a slow health answer (kube-score: liveness must differ from readiness)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_container_requests_and_limits_ephemeral_storage_and_every_empty_dir_has_a_size_limit(
    env: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    for name, spec in pod_specs(rendered[env]):
        for container in containers(spec):
            resources = container["resources"]
            assert "ephemeral-storage" in resources["requests"] and "ephemeral-storage" in resources["limits"], name
        for volume in spec["volumes"]:
            if "emptyDir" in volume:
                assert volume["emptyDir"]["sizeLimit"], f"{name} {volume['name']}"


def test_the_app_reaches_only_dns_and_ollama(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["prod"]
    app = pod_labels(docs, "Deployment", "app")
    (policy,) = [p for p in find(docs, "NetworkPolicy") if selects(p["spec"]["podSelector"], app)]
    dns, to_ollama = policy["spec"]["egress"]
    assert dns == {"to": [KUBE_DNS], "ports": DNS_PORTS}
    assert to_ollama["ports"] == [{"port": 11434, "protocol": "TCP"}]
    (peer,) = to_ollama["to"]
    assert selects(peer["podSelector"], pod_labels(docs, "Deployment", "ollama"))


def _ollama_egress(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ollama = pod_labels(docs, "Deployment", "ollama")
    (policy,) = [p for p in find(docs, "NetworkPolicy") if selects(p["spec"]["podSelector"], ollama)]
    return list(policy["spec"]["egress"])


def test_ollama_reaches_dns_and_the_mirror_only_unless_the_public_registry_is_allowed(
    rendered: dict[str, list[dict[str, Any]]], lock_file: Path
) -> None:
    assert _ollama_egress(rendered["prod"]) == [{"to": [KUBE_DNS], "ports": DNS_PORTS}]
    mirror = ["networkPolicy.mirror.to[0].ipBlock.cidr=10.1.2.3/32", "networkPolicy.mirror.ports[0].port=5000"]
    assert _ollama_egress(template("prod", lock_file, sets=mirror)) == [
        {"to": [KUBE_DNS], "ports": DNS_PORTS},
        {"to": [{"ipBlock": {"cidr": "10.1.2.3/32"}}], "ports": [{"port": 5000}]},
    ]
    dns, public = _ollama_egress(template("prod", lock_file, sets=["networkPolicy.allowPublicRegistry=true"]))
    assert dns == {"to": [KUBE_DNS], "ports": DNS_PORTS}
    assert public["ports"] == [{"port": 443, "protocol": "TCP"}]
    v4, v6 = public["to"]
    assert v4["ipBlock"]["cidr"] == "0.0.0.0/0" and v6["ipBlock"]["cidr"] == "::/0"
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} <= set(v4["ipBlock"]["except"])


def test_the_helm_test_accepts_nothing_and_reaches_dns_ollama_and_the_page(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    docs = rendered["prod"]
    test = one(docs, "Pod", "smoke-test")["metadata"]["labels"]
    (policy,) = [p for p in find(docs, "NetworkPolicy") if selects(p["spec"]["podSelector"], test)]
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in policy["spec"]
    dns, to_ollama, to_app = policy["spec"]["egress"]
    assert dns == {"to": [KUBE_DNS], "ports": DNS_PORTS}
    assert selects(to_ollama["to"][0]["podSelector"], pod_labels(docs, "Deployment", "ollama"))
    assert selects(to_app["to"][0]["podSelector"], pod_labels(docs, "Deployment", "app"))
    assert to_app["ports"] == [{"port": 8501, "protocol": "TCP"}]


def test_external_ollama_lets_the_app_connect_anywhere(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["local-keynote"]
    (policy,) = [p for p in find(docs, "NetworkPolicy") if p["metadata"]["name"] == "snap2prod-app"]
    assert policy["spec"]["egress"][1] == {}  # host.docker.internal is outside the cluster


@pytest.mark.parametrize("env", WITH_OLLAMA)
def test_ollama_settings_are_environment_variables(env: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    names = {e["name"] for e in ollama_container(rendered[env])["env"]}
    assert {"OLLAMA_KEEP_ALIVE", "OLLAMA_NUM_PARALLEL", "OLLAMA_MAX_LOADED_MODELS", "OLLAMA_CONTEXT_LENGTH"} <= names


def test_an_app_pdb_is_rendered_only_with_more_than_one_replica(rendered: dict[str, list[dict[str, Any]]]) -> None:
    assert one(rendered["prod"], "PodDisruptionBudget", "app")["spec"]["maxUnavailable"] == 1
    assert find(rendered["local"], "PodDisruptionBudget") == []  # one replica: a budget would block drains


def test_app_replicas_spread_over_nodes(rendered: dict[str, list[dict[str, Any]]]) -> None:
    spec = one(rendered["prod"], "Deployment", "app")["spec"]["template"]["spec"]
    app = pod_labels(rendered["prod"], "Deployment", "app")
    keys = [c["topologyKey"] for c in spec["topologySpreadConstraints"]]
    assert keys == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
    assert all(selects(c["labelSelector"], app) for c in spec["topologySpreadConstraints"])
    (preferred,) = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert selects(preferred["podAffinityTerm"]["labelSelector"], app)


def test_required_anti_affinity_keeps_app_replicas_off_each_others_nodes() -> None:
    spec = one(template("prod", sets=["app.podAntiAffinity=required"]), "Deployment", "app")["spec"]["template"]
    (term,) = spec["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert (
        "affinity"
        not in one(template("prod", sets=["app.podAntiAffinity=none"]), "Deployment", "app")["spec"]["template"]["spec"]
    )


# --- the schema rejects bad values, saying where and why ---------------------------------------------------

BAD_VALUES = [
    ("ollama.image.digest=latest", "at '/ollama/image/digest': 'latest' does not match pattern '^sha256:[0-9a-f]{64}"),
    ("app.image.digest=sha256:abc", "at '/app/image/digest': 'sha256:abc' does not match pattern"),
    ("ollama.image.digest=null", "at '/ollama/image': missing property 'digest'"),
    ("gpu.resourceName=amd.com/gpu", "at '/gpu/resourceName': 'amd.com/gpu' does not match pattern"),
    ("gpu.count=0", "at '/gpu/count': minimum: got 0, want 1"),
    ("gpu.enabled=yes", "at '/gpu/enabled': got string, want boolean"),
    ("app.service.type=LoadBalancer", "at '/app/service/type': value must be one of 'ClusterIP', 'NodePort'"),
    ("ollama.imag.tag=x", "at '/ollama': additional properties 'imag' not allowed"),
    ("app.podSecurityContext.runAsNonRoot=false", "at '/app/podSecurityContext/runAsNonRoot': value must be true"),
    (
        "ollama.securityContext.allowPrivilegeEscalation=true",
        "at '/ollama/securityContext/allowPrivilegeEscalation': value must be false",
    ),
    ("ollama.persistence.size=lots", "at '/ollama/persistence/size': 'lots' does not match pattern"),
    ("models.registry=http://mirror", "at '/models/registry': 'http://mirror' does not match pattern"),
    (
        "models.lock.models[0].name=moondream,models.lock.models[0].tag=latest,models.lock.models[0].size=1,"
        "models.lock.models[0].digest=abc",
        "at '/models/lock/models/0/digest': 'abc' does not match pattern",
    ),
    ("models.lock.version=2", "at '/models/lock/version': value must be 1"),
    ("app.settings.logFormat=xml", "at '/app/settings/logFormat': value must be one of 'text', 'json'"),
    ("ollama.env.numParallel=0", "at '/ollama/env/numParallel': minimum: got 0, want 1"),
    ("app.service.nodePort=80", "at '/app/service/nodePort'"),
]


@pytest.mark.parametrize(("value", "message"), BAD_VALUES, ids=[v.split("=")[0] for v, _ in BAD_VALUES])
def test_the_schema_rejects_a_bad_value_saying_where_and_why(value: str, message: str) -> None:
    error = render_error("prod", sets=[value])
    assert "values don't meet the specifications of the schema" in error
    assert message in error


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_lock_file_format_passes_the_schema(env: str, lock_file: Path) -> None:
    proc = helm("template", "x", str(CHART), *values_args(env, lock_file))
    assert proc.returncode == 0, proc.stderr


# --- NOTES.txt and the chart README -------------------------------------------------------------------------


def test_notes_warn_while_the_image_digests_are_placeholders(lock_file: Path) -> None:
    proc = helm("install", "snap2prod", str(CHART), "--dry-run=client", *values_args("prod", lock_file))
    assert proc.returncode == 0, proc.stderr
    assert "WARNING: ollama.image.digest is the documented placeholder" in proc.stdout
    assert "WARNING: app.image.digest is the documented placeholder" in proc.stdout
    assert "WARNING: apiGate.image.digest is the documented placeholder" in proc.stdout
    assert "kubectl -n default logs deploy/snap2prod-ollama -c pull-models -f" in proc.stdout


def test_notes_do_not_warn_once_the_digests_are_set(lock_file: Path) -> None:
    digest = "sha256:" + "ab" * 32
    sets = ["--set", f"ollama.image.digest={digest}", "--set", f"app.image.digest={digest}"]
    sets += ["--set", f"apiGate.image.digest={digest}"]
    proc = helm("install", "snap2prod", str(CHART), "--dry-run=client", *values_args("prod", lock_file), *sets)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stdout


def test_the_chart_readme_is_generated_from_the_current_values() -> None:
    readme = (CHART / "README.md").read_text()
    assert chart_docs.render(readme, (CHART / "values.yaml").read_text()) == readme


def test_chart_docs_names_a_key_without_a_description() -> None:
    values = "# -- documented\nfirst: 1\nsection:\n  # -- documented child\n  child: 2\n  other: 3\n"
    with pytest.raises(chart_docs.ChartDocsError, match=r"without a `# --` comment: section, section\.other$"):
        chart_docs.render(f"{chart_docs.START}\n{chart_docs.END}\n", values)


def test_chart_docs_check_fails_on_a_stale_readme(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chart = tmp_path / "chart"
    chart.mkdir()
    (chart / "values.yaml").write_text("# -- the only key\nkey: 1\n")
    (chart / "README.md").write_text(f"# x\n{chart_docs.START}\n{chart_docs.END}\n")
    assert chart_docs.main(["--chart", str(chart), "--check"]) == 1
    assert "is stale" in capsys.readouterr().err
    assert chart_docs.main(["--chart", str(chart)]) == 0
    assert "| `key` | int | `1` | the only key |" in (chart / "README.md").read_text()
    assert chart_docs.main(["--chart", str(chart), "--check"]) == 0
