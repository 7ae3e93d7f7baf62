"""Bad input to `snap2prod kind`: one clear line, a non-zero exit, nothing left half-made."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from scripts import cli
from scripts.kind import bases, cluster, nodeimage, podman
from scripts.kind import registry as local
from tests.conftest import CONTAINERS_GROUP

pytestmark = pytest.mark.xdist_group(CONTAINERS_GROUP)  # one worker drives podman and KIND


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    """The one error message, last on stderr (progress lines of the work done before it may precede it)."""
    err = "\n" + capsys.readouterr().err.strip()
    assert "\nerror: " in err and "Traceback" not in err, err
    return " ".join(err[err.index("\nerror: ") + 1 :].split())  # rich wraps long lines at the terminal width


def test_no_container_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SNAP2PROD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert cli.main(["kind", "up", "--name", "snap2prod-noengine"]) == 1
    assert "no container engine: podman is not installed" in _error(capsys)
    assert not (tmp_path / "cache" / "kind" / "snap2prod-noengine" / "record.json").exists()


def test_kind_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty cache (no kind) on a machine without Go to build it: podman is there, kind cannot be."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "podman").symlink_to(podman.podman_path())
    monkeypatch.setenv("SNAP2PROD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(bin_dir))
    assert cli.main(["kind", "up", "--name", "snap2prod-nokind"]) == 1
    assert "kind is not installed and cannot be built here (no Go on PATH)" in _error(capsys)
    assert not (tmp_path / "cache" / "kind" / "snap2prod-nokind").exists()


@pytest.fixture
def fault_foreign_cluster() -> Iterator[str]:
    """A container that kind lists as a cluster named "snap2prod-foreign" (kind finds clusters by this label)."""
    name = "snap2prod-foreign"
    image = bases.ensure(bases.SLIM, local.state() / "test-foreign.log")
    podman.run(
        [
            "run",
            "-d",
            "--name",
            f"{name}-control-plane",
            "--label",
            f"io.x-k8s.kind.cluster={name}",
            "--network",
            "none",
            image,
            "sleep",
            "600",
        ]
    )
    yield name
    podman.run(["rm", "-f", "-t", "0", f"{name}-control-plane"], check=False)


def test_a_cluster_of_the_same_name_that_snap2prod_did_not_make_is_left_alone(
    fault_foreign_cluster: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["kind", "up", "--name", fault_foreign_cluster]) == 1
    assert "exists that snap2prod did not make" in _error(capsys)
    assert cli.main(["kind", "down", "--name", fault_foreign_cluster]) == 1
    assert "was not made by snap2prod" in _error(capsys)
    assert podman.exists("container", f"{fault_foreign_cluster}-control-plane")


def test_a_busy_port_is_named_before_anything_is_made(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = yaml.safe_load(cluster.KIND_CONFIG.read_text())
        config["nodes"][0]["extraPortMappings"] = [
            {"containerPort": 30851, "hostPort": port, "listenAddress": "127.0.0.1"}
        ]
        path = tmp_path / "kind.yaml"
        path.write_text(yaml.safe_dump(config))
        assert cli.main(["kind", "up", "--name", "snap2prod-busy", "--config", str(path)]) == 1
    assert f"port 127.0.0.1:{port} is busy" in _error(capsys)
    assert "snap2prod-busy" not in cluster.clusters()
    assert cluster.read_record("snap2prod-busy") is None


def test_a_failing_node_image_step_names_the_step_and_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fault = bases.Base("kind-node-fault", ("fault-no-such-package-snap2prod",))
    monkeypatch.setattr(nodeimage, "NODE", fault)
    monkeypatch.setattr(cluster, "OFFICIAL_NODE", "localhost/snap2prod/none:none")
    config = yaml.safe_load(cluster.KIND_CONFIG.read_text())
    config["nodes"][0].pop("extraPortMappings")  # the real cluster may hold the ports
    path = tmp_path / "kind.yaml"
    path.write_text(yaml.safe_dump(config))
    assert cli.main(["kind", "up", "--name", "snap2prod-badimage", "--config", str(path)]) == 1
    err = _error(capsys)
    assert "node image step 'Debian rootfs" in err and "kind-node-image.log" in err
    assert not (bases.base_dir() / f"{fault.name}-{fault.key}.tar").exists()
    assert "snap2prod-badimage" not in cluster.clusters()
