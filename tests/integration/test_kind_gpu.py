"""`kind up --gpus 2`: a KIND cluster whose worker looks like a GPU node to the scheduler and runs pods on CPU.

The worker reports `nvidia.com/gpu: 2`, carries the GFD labels and the GPU taint; RuntimeClass `nvidia` is runc;
a pod shaped like the production Ollama pod (runtimeClassName, toleration, GFD node selector, a GPU limit)
becomes Running there. The shape is part of the cluster: the same one is reused, another one is refused.

Then the production rehearsal: `promote --to kind --rehearse-prod` puts production's values on that worker, with
real inference in the helm test, three app replicas and their budget, and Pod Security `restricted` enforced.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Page, expect, sync_playwright

from app.gateway import OllamaGateway
from app.lock import Lock, pin, write_lock
from app.session import RESTARTED
from scripts import cli, toolchain
from scripts.gpu_shape import GPU_TAINT, gpu_labels
from scripts.kind import cluster, gpu
from tests import colour_pictures as pictures
from tests.conftest import CONTAINERS_GROUP
from tests.e2e.conftest import CHROMIUM_ARGS
from tests.e2e.test_page_browser import CAMERA_COLOUR, VIDEO_SHOWS_SCENE, description_text, write_y4m
from tests.kube import wait_for

pytestmark = pytest.mark.xdist_group(CONTAINERS_GROUP)  # one worker drives podman and KIND

NAME = "snap2prod-gpu"
POD = "gpu-shaped"


def _kubectl(*args: str, stdin: str | None = None) -> str:
    cmd = [*cluster.kubectl(NAME), *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=True, timeout=60).stdout


def _get(*args: str) -> Any:
    return json.loads(_kubectl("get", *args, "-o", "json"))


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """stacks/local/kind.yaml without host ports: the `snap2prod` cluster of test_kind.py may hold them."""
    data = yaml.safe_load(cluster.KIND_CONFIG.read_text())
    data["nodes"][0].pop("extraPortMappings")
    path = tmp_path_factory.mktemp("kind-gpu") / "kind.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def up(config: Path) -> Iterator[cluster.UpResult]:
    try:
        yield cluster.up(NAME, config_path=config, gpus=2)
    finally:
        cluster.down(NAME)


@pytest.fixture(scope="module")
def worker(up: cluster.UpResult) -> dict[str, Any]:
    record = cluster.read_record(NAME)
    assert record is not None and record.gpu_node == f"{NAME}-worker"
    node: dict[str, Any] = _get("node", record.gpu_node)
    return node


def test_the_worker_advertises_two_gpus_with_the_gfd_labels_and_the_taint(
    up: cluster.UpResult, worker: dict[str, Any]
) -> None:
    assert up.created and up.gpu is not None
    assert worker["status"]["allocatable"]["nvidia.com/gpu"] == "2"
    labels = worker["metadata"]["labels"]
    assert {k: labels.get(k) for k in gpu_labels(up.gpu)} == gpu_labels(up.gpu)
    assert labels["snap2prod.dev/pool"] == "gpu"
    assert [{k: t.get(k) for k in GPU_TAINT} for t in worker["spec"]["taints"]] == [GPU_TAINT]
    control_plane = _get("node", f"{NAME}-control-plane")
    assert "nvidia.com/gpu" not in control_plane["status"]["allocatable"]
    assert not control_plane["spec"].get("taints")  # the app, without a GPU toleration, runs there


def test_the_runtime_class_nvidia_is_runc(up: cluster.UpResult) -> None:
    assert _get("runtimeclass", gpu.RUNTIME_CLASS)["handler"] == "runc"


def test_a_pod_shaped_like_the_prod_ollama_pod_runs_on_the_worker(up: cluster.UpResult, worker: dict[str, Any]) -> None:
    images = [name for image in worker["status"]["images"] for name in image["names"]]
    helper = next(name for name in images if "local-path-helper" in name and "@" not in name)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": POD, "namespace": "default"},
        "spec": {
            "runtimeClassName": gpu.RUNTIME_CLASS,
            "nodeSelector": {"nvidia.com/gpu.present": "true"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "main",
                    "image": helper,
                    "imagePullPolicy": "Never",
                    "command": ["sleep", "3600"],
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                }
            ],
        },
    }
    _kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    running = wait_for("the GPU-shaped pod Running", lambda: _running(), timeout_s=120)
    assert running["spec"]["nodeName"] == worker["metadata"]["name"]
    assert ipaddress.ip_address(running["status"]["podIP"]) in ipaddress.ip_network(worker["spec"]["podCIDR"])


def _running() -> dict[str, Any] | None:
    pod: dict[str, Any] = _get("pod", POD, "-n", "default")
    return pod if pod["status"].get("phase") == "Running" else None


def test_a_second_up_with_the_same_shape_changes_nothing(up: cluster.UpResult, config: Path) -> None:
    again = cluster.up(NAME, config_path=config, gpus=2)
    assert not again.created
    assert cluster.status(NAME).gpu == "2 × NVIDIA-A100-SXM4-80GB (nvidia.com/gpu: 2)"


def test_up_with_another_gpu_count_is_refused(up: cluster.UpResult, config: Path) -> None:
    with pytest.raises(cluster.KindError, match="exists with 2 × NVIDIA-A100-SXM4-80GB"):
        cluster.up(NAME, config_path=config, gpus=3)


REHEARSAL = "snap2prod-rehearsal"
PAGE_MS = 300_000


@pytest.fixture(scope="module")
def rehearsal_lock(gateway: OllamaGateway, vision_model: str, tmp_path_factory: Any) -> Path:
    tmp = tmp_path_factory.mktemp("rehearsal")
    lock = Lock(ollama_version=gateway.version(), models=tuple(pin(gateway, [vision_model])))
    return write_lock(lock, tmp / "models.lock")


def _rehearse(lock: Path, host: str, tmp: Path, *args: str) -> dict[str, Any]:
    """`promote --to kind --rehearse-prod` onto this cluster; the JSON report with the exit code as "exit"."""
    report = tmp / f"report-{len(list(tmp.iterdir()))}.json"
    argv = ["promote", "--to", "kind", "--kube-context", f"kind-{NAME}", "--rehearse-prod", "-n", REHEARSAL]
    argv += ["--lock", str(lock), "--host", host, "--timeout", "900", "--report", str(report), *args]
    code = cli.main(argv)
    data: dict[str, Any] = json.loads(report.read_text())
    data["exit"] = code
    return data


@pytest.fixture(scope="module")
def rehearsal(up: cluster.UpResult, rehearsal_lock: Path, ollama_host: str) -> dict[str, Any]:
    """Production's values on the GPU-shaped worker."""
    return _rehearse(rehearsal_lock, ollama_host, rehearsal_lock.parent)


def test_the_prod_values_rehearse_on_the_gpu_shaped_node_with_real_inference(rehearsal: dict[str, Any]) -> None:
    assert rehearsal["exit"] == 0, rehearsal["error"]
    assert (rehearsal["outcome"], rehearsal["context"]) == ("promoted", f"kind-{NAME}")
    assert rehearsal["rehearsal"]["values"] == "stacks/prod/values.yaml + stacks/prod/values-rehearsal.yaml"
    assert rehearsal["rehearsal"]["gpu_node"] == "2 × NVIDIA-A100-SXM4-80GB (nvidia.com/gpu: 2)"
    assert any(item.startswith("inference speed on a GPU") for item in rehearsal["rehearsal"]["cannot_show"])
    assert rehearsal["verify"]["helm_test"] == "passed (real inference on the fixture picture)"
    assert rehearsal["verify"]["models"] == "1 locked model(s) served with their digests"
    assert [(p["node"], p["ready"]) for p in rehearsal["placement"]] == [(f"{NAME}-worker", True)]


def test_the_rehearsal_runs_the_ollama_pod_on_the_worker_with_its_gpu_and_runtime_class(
    rehearsal: dict[str, Any],
) -> None:
    (ollama,) = _pods("ollama")
    assert ollama["spec"]["nodeName"] == f"{NAME}-worker"
    assert ollama["spec"]["runtimeClassName"] == gpu.RUNTIME_CLASS
    main = next(c for c in ollama["spec"]["containers"] if c["name"] == "ollama")
    assert main["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert ollama["status"]["phase"] == "Running"
    assert all(c["ready"] for c in ollama["status"]["containerStatuses"])


def test_the_rehearsal_keeps_productions_three_app_replicas_their_budget_and_sticky_sessions(
    rehearsal: dict[str, Any],
) -> None:
    apps = _pods("app")
    assert len(apps) == 3
    assert all(p["status"]["phase"] == "Running" and p["spec"]["nodeName"] == f"{NAME}-control-plane" for p in apps)
    budgets = _get("pdb", "-n", REHEARSAL)["items"]
    app_budget = next(b for b in budgets if b["metadata"]["labels"]["app.kubernetes.io/component"] == "app")
    assert app_budget["spec"]["maxUnavailable"] == 1
    assert app_budget["status"]["currentHealthy"] == 3
    service = _get("service", "snap2prod-app", "-n", REHEARSAL)
    assert (service["spec"]["type"], service["spec"]["sessionAffinity"]) == ("NodePort", "ClientIP")
    assert not _get("ingress", "-n", REHEARSAL)["items"]  # values-rehearsal.yaml: no public ingress


def test_a_pod_asking_for_more_gpus_than_the_node_advertises_stays_pending(rehearsal: dict[str, Any]) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "too-many-gpus", "namespace": "default"},
        "spec": {
            "runtimeClassName": gpu.RUNTIME_CLASS,
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [{"name": "main", "image": "unused", "resources": {"limits": {"nvidia.com/gpu": "3"}}}],
        },
    }
    _kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    try:
        condition = wait_for("the scheduler's verdict on the pod", lambda: _unschedulable("too-many-gpus"))
        assert "Insufficient nvidia.com/gpu" in condition["message"], condition
        assert _get("pod", "too-many-gpus", "-n", "default")["status"]["phase"] == "Pending"
    finally:
        _kubectl("delete", "pod", "too-many-gpus", "-n", "default", "--wait=false")


def test_the_rehearsal_namespace_enforces_restricted_pod_security(rehearsal: dict[str, Any]) -> None:
    labels = _get("namespace", REHEARSAL)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    privileged = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "privileged", "namespace": REHEARSAL},
        "spec": {"containers": [{"name": "main", "image": "unused", "securityContext": {"privileged": True}}]},
    }
    cmd = [*cluster.kubectl(NAME), "apply", "-f", "-"]
    refused = subprocess.run(cmd, input=json.dumps(privileged), capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert 'violates PodSecurity "restricted:latest": privileged' in refused.stderr, refused.stderr


REACH = """
import json, socket, sys
def reach(host, port):
    try:
        socket.create_connection((host, int(port)), timeout=4).close()
        return "open"
    except OSError as err:
        return type(err).__name__
print(json.dumps({f"{h}:{p}": reach(h, p) for h, p in (a.split(":") for a in sys.argv[1:])}))
"""


_probes = iter(range(1000))


def _reach_from_a_pod(*targets: str) -> dict[str, str]:
    """A pod without the app's labels (the app's image and security context, to pass restricted Pod Security)
    opens TCP connections and prints what happened to each."""
    name = f"netpol-probe-{next(_probes)}"
    app = _get("deployment", "snap2prod-app", "-n", REHEARSAL)["spec"]["template"]["spec"]
    main = next(c for c in app["containers"] if c["name"] == "app")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": REHEARSAL, "labels": {"snap2prod.test/probe": "netpol"}},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": app.get("securityContext", {}),
            "containers": [
                {
                    "name": "probe",
                    "image": main["image"],
                    "command": ["python", "-c", REACH, *targets],
                    "securityContext": main["securityContext"],
                    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
                }
            ],
        },
    }
    _kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    try:
        wait_for(f"probe pod {name} to finish", lambda: _phase(name) in ("Succeeded", "Failed"), timeout_s=120)
        return dict(json.loads(_kubectl("logs", name, "-n", REHEARSAL).strip().splitlines()[-1]))
    finally:
        _kubectl("delete", "pod", name, "-n", REHEARSAL, "--wait=false")


def _phase(pod: str) -> str:
    return str(_get("pod", pod, "-n", REHEARSAL)["status"].get("phase", ""))


def test_only_the_app_and_the_helm_test_reach_ollama_and_the_enforcer_is_what_says_no(
    rehearsal: dict[str, Any],
) -> None:
    """kube-router enforces the chart's NetworkPolicies: a pod without the app's labels reaches the app's page
    (its network works) but not Ollama's port; an app pod does, and so did the helm test (real inference). With
    Ollama's policy taken away the same pod gets through: the policy is what refused it."""
    ollama, page = "snap2prod-ollama:11434", "snap2prod-app:8501"
    assert _reach_from_a_pod(ollama, page) == {ollama: "ConnectionRefusedError", page: "open"}
    app_pod = _pods("app")[0]["metadata"]["name"]
    from_app = _kubectl("exec", app_pod, "-n", REHEARSAL, "-c", "app", "--", "python", "-c", REACH, ollama)
    assert json.loads(from_app) == {ollama: "open"}
    assert rehearsal["verify"]["helm_test"] == "passed (real inference on the fixture picture)"
    policy = _get("networkpolicy", "snap2prod-ollama", "-n", REHEARSAL)
    for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
        policy["metadata"].pop(key, None)
    _kubectl("delete", "networkpolicy", "snap2prod-ollama", "-n", REHEARSAL)
    try:
        wait_for("a probe through once Ollama's policy is gone", lambda: _reach_from_a_pod(ollama)[ollama] == "open")
    finally:
        _kubectl("apply", "-f", "-", stdin=json.dumps(policy))
    wait_for(
        "probes refused again with the policy back",
        lambda: _reach_from_a_pod(ollama)[ollama] == "ConnectionRefusedError",
    )


def test_the_browser_on_a_replica_that_goes_away_says_the_session_restarted_and_carries_on(
    rehearsal: dict[str, Any], vision_model: str, tmp_path: Path
) -> None:
    """Every app pod deleted under real Chromium (as a rollout does): the page reconnects through the Service to a
    new replica and says the session restarted, instead of a blank page; the next photo is described."""
    with _browser(tmp_path) as page:
        description = page.locator(".st-key-description")
        _photo(page)
        expect(description).to_contain_text(f"capture #1 · {vision_model} · ", timeout=PAGE_MS)
        expect(page.get_by_text(RESTARTED)).to_have_count(0)

        _kubectl("-n", REHEARSAL, "delete", "pod", "-l", "app.kubernetes.io/component=app", "--wait=false")
        wait_for("three new app pods Ready", lambda: _ready_apps() == 3, timeout_s=300)
        # Streamlit's browser side reconnects by itself and keeps showing the page; the next action runs in the
        # new replica's session, which finds the URL's session unknown there
        expect(page.get_by_text("CONNECTING")).to_have_count(0, timeout=PAGE_MS)
        page.get_by_role("button", name="Clear photo").click(timeout=PAGE_MS)
        expect(page.get_by_text(RESTARTED)).to_be_visible(timeout=PAGE_MS)
        expect(page.get_by_role("heading", name="snap2prod")).to_be_visible()
        _photo(page)
        _expect_described(page, 1, vision_model, CAMERA_COLOUR)
        expect(page.get_by_text(RESTARTED)).to_be_visible()  # said through the new session's first picture


def test_twenty_pictures_through_three_replicas_are_all_described_and_without_affinity_they_fail(
    rehearsal: dict[str, Any], vision_model: str, tmp_path: Path
) -> None:
    """Ten visits in five pairs, each visit a new browser context (its own cookies and connections), the two of a
    pair open at the same time: each takes a camera photo, then both upload a picture, of two different colours,
    before either answer is awaited. All twenty are described through the Service's three replicas, each answer
    naming its own picture's colour, so a description that went to the other session of the pair fails. Then the
    control: with `sessionAffinity: None` a picture's upload can reach a replica that does not hold the browser's
    session, and fails there."""
    wait_for("three app pods Ready", lambda: _ready_apps() == 3, timeout_s=300)
    colours = [c for c in pictures.BGR if c != CAMERA_COLOUR]
    uploads = {c: tmp_path / f"upload-{c}.jpg" for c in colours}
    for colour, path in uploads.items():
        path.write_bytes(pictures.jpeg(pictures.photo(colour, 640, 480)))
    with _chromium(tmp_path) as visit:
        for n in range(5):
            pair = (colours[n], colours[(n + 1) % len(colours)])
            with visit() as first, visit() as second:
                pages = (first, second)
                for page in pages:
                    _photo(page)
                for page in pages:
                    _expect_described(page, 1, vision_model, CAMERA_COLOUR)
                for page, colour in zip(pages, pair, strict=True):
                    _upload(page, uploads[colour])
                for page, colour in zip(pages, pair, strict=True):
                    _expect_described(page, 2, vision_model, colour)
        _set_app_affinity("None")
        try:
            outcomes = []
            for _ in range(6):
                with visit() as page:
                    _upload(page, uploads[colours[0]])
                    outcomes.append(_described_or_refused(page))
        finally:
            _set_app_affinity("ClientIP")
    assert "refused" in outcomes, outcomes  # P(six uploads all on the session's replica by chance) = 1/729


UPLOAD_REFUSED = "Request failed with status code 400"


def _upload(page: Page, picture: Path) -> None:
    page.get_by_text("Upload", exact=True).click()
    page.locator("input[type=file]").set_input_files(str(picture))


def _expect_described(page: Page, capture: int, model: str, colour: str) -> None:
    """Capture ``capture`` described without an error, and its answer names ``colour`` and no other."""
    description = page.locator(".st-key-description")
    expect(description).to_contain_text(f"capture #{capture} · {model} · ", timeout=PAGE_MS)
    expect(description.locator("[data-testid=stAlert]")).to_have_count(0)
    expect(page.get_by_text(UPLOAD_REFUSED)).to_have_count(0)
    assert pictures.names_only(description_text(page), colour), (capture, colour, description_text(page))


def _described_or_refused(page: Page) -> str:
    """What became of an upload: described, or refused by a replica without the session (the uploader then shows
    the HTTP error under the file)."""
    described = page.locator(".st-key-description").get_by_text("capture #1 · ")
    refused = page.get_by_text(UPLOAD_REFUSED)
    expect(described.or_(refused)).to_be_visible(timeout=PAGE_MS)
    return "refused" if refused.count() else "described"


def _set_app_affinity(affinity: str) -> None:
    patch: dict[str, dict[str, Any]] = {"spec": {"sessionAffinity": affinity}}
    if affinity == "None":
        patch["spec"]["sessionAffinityConfig"] = None
    _kubectl("-n", REHEARSAL, "patch", "service", "snap2prod-app", "--type", "merge", "-p", json.dumps(patch))


@contextlib.contextmanager
def _chromium(tmp_path: Path) -> Iterator[Callable[[], contextlib.AbstractContextManager[Page]]]:
    """Real Chromium with a fake camera; each visit it opens is a new context (cookies, cache and connections of
    its own) on the page the rehearsal's Service serves on the node port."""
    node = _get("node", f"{NAME}-control-plane")
    address = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
    url = f"http://{address}:30851"  # stacks/prod/values-rehearsal.yaml: app.service.nodePort
    camera = f"--use-file-for-fake-video-capture={write_y4m(tmp_path / 'camera.y4m')}"
    # a browser gives the camera only to a secure context: https, or localhost (where production's ingress and
    # stacks/local/kind.yaml put the page); the node's own address is neither, so this browser is told to trust it
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(toolchain.binary("chromium")),
            args=[*CHROMIUM_ARGS, camera, f"--unsafely-treat-insecure-origin-as-secure={url}"],
        )

        @contextlib.contextmanager
        def visit() -> Iterator[Page]:
            context = browser.new_context(permissions=["camera"], viewport={"width": 1400, "height": 1000})
            try:
                page = context.new_page()
                page.goto(url)
                expect(page.get_by_text("reachable at http://snap2prod-ollama:11434")).to_be_visible(timeout=PAGE_MS)
                yield page
            finally:
                context.close()

        try:
            yield visit
        finally:
            browser.close()


@contextlib.contextmanager
def _browser(tmp_path: Path) -> Iterator[Page]:
    with _chromium(tmp_path) as visit, visit() as page:
        yield page


def _photo(page: Page) -> None:
    expect(page.get_by_text("reachable at http://snap2prod-ollama:11434")).to_be_visible(timeout=PAGE_MS)
    page.wait_for_function(VIDEO_SHOWS_SCENE, timeout=PAGE_MS)
    page.get_by_role("button", name="Take Photo").click(timeout=PAGE_MS)


def test_ollama_killed_for_memory_by_a_too_small_limit_fails_verify_names_the_limit_and_rolls_back(
    rehearsal: dict[str, Any], rehearsal_lock: Path, ollama_host: str, tmp_path: Path
) -> None:
    tight = tmp_path / "tight.yaml"
    tight.write_text(
        yaml.safe_dump({"ollama": {"resources": {"requests": {"memory": "128Mi"}, "limits": {"memory": "200Mi"}}}})
    )
    failed = _rehearse(rehearsal_lock, ollama_host, tmp_path, "-f", str(tight))
    assert (failed["exit"], failed["outcome"]) == (7, "VerifyFailed")
    assert "llama-server process has terminated: signal: killed" in failed["error"]
    assert (
        "Ollama's model runner was killed: most likely for memory. The Ollama container's memory limit is 200Mi "
        "(ollama.resources.limits.memory); loading the model for the test needs more. Raise the limit (and the "
        "request with it), or lock a smaller model.\n"
        f"rolled back to revision {rehearsal['revision']}."
    ) in failed["error"]
    deployment = _get("deployment", "snap2prod-ollama", "-n", REHEARSAL)
    (main,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "ollama"]
    assert main["resources"]["limits"]["memory"] == "6Gi"  # stacks/prod/values-rehearsal.yaml again


def test_a_node_drain_stops_at_the_app_budget_and_two_replicas_keep_serving(rehearsal: dict[str, Any]) -> None:
    """Draining the node the app runs on (its pods only): the budget (maxUnavailable 1) lets one go, refuses the
    next, and the drain gives up; after uncordon all three are back."""
    wait_for("three app pods Ready", lambda: _ready_apps() == 3, timeout_s=300)
    node = f"{NAME}-control-plane"
    drain = [*cluster.kubectl(NAME), "drain", node, "--pod-selector", "app.kubernetes.io/component=app"]
    drain += ["--delete-emptydir-data", "--timeout", "40s"]
    try:
        proc = subprocess.run(drain, capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0, proc.stdout
        assert "Cannot evict pod as it would violate the pod's disruption budget" in proc.stderr, proc.stderr
        assert _ready_apps() == 2  # one evicted (its replacement Pending: the node is cordoned), two serving
    finally:
        _kubectl("uncordon", node)
    wait_for("three app pods Ready after uncordon", lambda: _ready_apps() == 3, timeout_s=300)


def _ready_apps() -> int:
    return sum(
        1
        for p in _pods("app")
        if p["metadata"].get("deletionTimestamp") is None
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    )


def _pods(component: str) -> list[dict[str, Any]]:
    selector = f"app.kubernetes.io/component={component}"
    return list(_get("pods", "-n", REHEARSAL, "-l", selector)["items"])


def _unschedulable(name: str) -> dict[str, Any] | None:
    conditions = _get("pod", name, "-n", "default")["status"].get("conditions", [])
    return next((c for c in conditions if c["type"] == "PodScheduled" and c["status"] == "False"), None)
