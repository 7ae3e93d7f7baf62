"""Real container images: built offline with podman, run as containers, pushed into the real local registry."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scripts import toolchain
from scripts.kind import images as build
from scripts.kind import podman, publish
from scripts.kind import registry as local
from scripts.processes import free_port
from tests.conftest import CONTAINERS_GROUP

pytestmark = pytest.mark.xdist_group(CONTAINERS_GROUP)  # one worker drives podman and KIND


@pytest.fixture(scope="module")
def built() -> dict[str, build.Built]:
    """Both images, built offline (Debian-made bases, host wheelhouse, `--network none`); cached by content."""
    return build.build_all()


def _run(image: str, port: int, inner: int, *extra: str) -> str:
    name = f"snap2prod-test-{port}"
    podman.run(
        [
            "run",
            "-d",
            "--rm",
            "--name",
            name,
            "--no-healthcheck",
            "--read-only",
            "--tmpfs",
            "/tmp",
            "-p",
            f"127.0.0.1:{port}:{inner}",
            *extra,
            image,
        ]
    )
    return name


def _wait_http(url: str, timeout_s: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            resp = httpx.get(url, timeout=2)
            if resp.status_code == 200:
                return resp
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {timeout_s:g} s")


@pytest.fixture
def containers() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        subprocess.run([podman.podman_path(), "rm", "-f", "-t", "1", name], capture_output=True, check=False)


def test_a_second_build_of_the_same_content_is_a_cache_hit(built: dict[str, build.Built]) -> None:
    again = build.build_all()
    assert {n: b.id for n, b in again.items()} == {n: b.id for n, b in built.items()}
    assert all(b.cached for b in again.values())


def test_a_build_leaves_no_superseded_image_of_ours_behind_and_keeps_our_other_images(
    built: dict[str, build.Built], tmp_path: Path
) -> None:
    """An older app build (untagged once the new one took its name) goes; an image of ours under another name (the
    node image's kube-router and storage images are such) stays."""
    log = tmp_path / "build.log"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /marker\n")
    other = build.build_image("other", tmp_path / "other", "localhost/snap2prod-test/other:1", "scratch", {}, log)
    app = built["app"]
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /old-app\n")
    old = build.build_image("app", tmp_path / "old", f"{app.ref}-old", "scratch", {}, log)
    podman.run(["untag", old.ref])  # what a newer build does to the older one's name
    try:
        pruned = build.prune_superseded(built.values(), log)
        listed = podman.run(["images", "--no-trunc", "--filter", f"label={build.CONTENT_LABEL}", "--format", "{{.ID}}"])
        present = {i.removeprefix("sha256:") for i in listed.split()}
        assert old.id.removeprefix("sha256:") in pruned and old.id.removeprefix("sha256:") not in present
        assert other.id.removeprefix("sha256:") in present
        assert {b.id.removeprefix("sha256:") for b in built.values()} <= present
    finally:
        podman.run(["rmi", "-f", other.ref], check=False)


def test_the_app_container_answers_streamlits_health(built: dict[str, build.Built], containers: list[str]) -> None:
    port = free_port()
    containers.append(_run(built["app"].ref, port, 8501))
    assert _wait_http(f"http://127.0.0.1:{port}/_stcore/health").text == "ok"


CLI_ONLY = ("kubernetes", "pyhelm3", "typer", "rich", "gguf", "scripts")
"""What only the `snap2prod` command needs (pyproject's `cli` extra, and the CLI package itself)."""
PAGE_NEEDS = ("streamlit", "ollama", "cv2", "httpx", "pydantic_settings", "yaml", "prometheus_client", "app.serve")


def test_the_app_image_holds_what_the_page_needs_and_none_of_the_clis_packages(
    built: dict[str, build.Built],
) -> None:
    probe = (
        "import importlib.util, json; "
        f"print(json.dumps({{m: importlib.util.find_spec(m) is not None for m in {list(CLI_ONLY + PAGE_NEEDS)!r}}}))"
    )
    out = podman.run(["run", "--rm", "--network", "none", built["app"].ref, "python", "-c", probe])
    found = json.loads(out.strip().splitlines()[-1])
    assert {m for m in CLI_ONLY if found[m]} == set()
    assert {m for m in PAGE_NEEDS if not found[m]} == set()


def test_the_ollama_container_answers_as_a_non_root_user_on_a_read_only_root(
    built: dict[str, build.Built], containers: list[str]
) -> None:
    port = free_port()
    name = _run(built["ollama"].ref, port, 11434, "--tmpfs", "/home/ollama:U", "--tmpfs", "/models:U")
    containers.append(name)
    version = _wait_http(f"http://127.0.0.1:{port}/api/version").json()["version"]
    assert version == toolchain.OLLAMA_VERSION
    inspected = json.loads(podman.run(["container", "inspect", name]))[0]
    assert inspected["HostConfig"]["ReadonlyRootfs"] is True
    uid = podman.run(["exec", name, "id", "-u"]).strip()
    assert uid == "10001"
    env = podman.run(["exec", name, "printenv", "OLLAMA_NO_CLOUD"]).strip()
    assert env == "1"


def test_the_digests_recorded_are_the_digests_the_registry_serves(built: dict[str, build.Built]) -> None:
    endpoints = local.up(local.state() / "test-push.log")
    pushed = publish.push(endpoints.push, local.state() / "test-push.log")
    recorded = build.read_images()["pushed"]
    for name in ("app", "ollama", "apiGate"):
        entry = recorded[name]
        repository = entry["repository"].removeprefix(f"{endpoints.push}/")
        assert (
            publish.served_digest(endpoints.push, repository, entry["tag"]) == entry["digest"] == pushed[name]["digest"]
        )
        assert entry["digest"].startswith("sha256:") and entry["digest"] != "sha256:" + "0" * 64
        assert entry["signed"].startswith("signed by "), entry  # cosign, against this machine's key
    values = publish.chart_values()
    assert values["app"]["image"]["digest"] == recorded["app"]["digest"]
    assert values["apiGate"]["image"]["digest"] == recorded["apiGate"]["digest"]


def test_each_image_has_an_sbom_of_what_it_holds(built: dict[str, build.Built]) -> None:
    """syft's SPDX of the image's own layers: the app's Python packages (pyproject.toml names streamlit and
    ollama), the Debian packages of the gate's base (nginx)."""
    names = {name: {p["name"] for p in json.loads(Path(b.sbom).read_text())["packages"]} for name, b in built.items()}
    assert {"streamlit", "ollama", "opencv-python-headless"} <= names["app"]
    assert "nginx" in names["apiGate"]
    assert "ca-certificates" in names["ollama"]


def test_the_api_gate_container_runs_the_charts_configuration_as_a_non_root_user_on_a_read_only_root(
    built: dict[str, build.Built], containers: list[str], tmp_path: Path
) -> None:
    """The gate image with the chart's own nginx configuration, as the pod runs it (uid 10001, read-only root,
    /tmp writable): nothing behind it, so an open path answers 502 and a closed one 403."""
    from scripts.paths import CHART_FILES

    port = free_port()
    config = tmp_path / "api-gate.conf"
    config.write_text((CHART_FILES / "api-gate.conf").read_text())
    tmp_path.chmod(0o755)  # the container's user reads the mounted folder
    containers.append(
        _run(built["apiGate"].ref, port, 11434, "--user", "10001:10001", "-v", f"{tmp_path}:/etc/snap2prod:ro")
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            closed = httpx.post(f"http://127.0.0.1:{port}/api/pull", json={"model": "x"}, timeout=2)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    assert closed.status_code == 403 and "closed by the snap2prod API gate" in closed.text
    assert httpx.get(f"http://127.0.0.1:{port}/api/version", timeout=5).status_code == 502  # no Ollama behind it


def test_the_registrys_containers_stop_on_sigterm_and_come_back(built: dict[str, build.Built]) -> None:
    """`podman stop` sends SIGTERM; a PID 1 without a handler ignores it and is killed after the timeout."""
    log = local.state() / "test-push.log"
    local.up(log)
    for name in local.CONTAINERS:
        start = time.monotonic()
        podman.run(["stop", "-t", "10", name])
        seconds = time.monotonic() - start
        exit_code = json.loads(podman.run(["container", "inspect", name]))[0]["State"]["ExitCode"]
        assert seconds < 5 and exit_code != 137, (
            f"{name}: stopped after {seconds:.1f} s, exit {exit_code} (137: killed)"
        )
    local.up(log)
    assert all(local.running(name) for name in local.CONTAINERS)


def test_images_build_without_a_container_engine_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from scripts import cli

    monkeypatch.setenv("SNAP2PROD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SNAP2PROD_IMAGES", str(tmp_path / "images.yaml"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no podman anywhere
    assert cli.main(["images", "build"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no container engine: podman is not installed") and "\n" not in err
    assert not (tmp_path / "images.yaml").exists()
