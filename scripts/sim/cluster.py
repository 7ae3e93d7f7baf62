"""The rehearsal cluster: a real API server, scheduler and controllers, with simulated GPU nodes.

No container engine exists on these machines, so KIND cannot run; kwokctl's `binary` runtime runs the real
control-plane binaries from the toolchain cache and kwok plays the kubelets. Promotions rehearse against the
same scheduler and admission that a GPU cluster runs, minus the GPUs.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scripts import toolchain
from scripts.console import step
from scripts.gpu_shape import SimError, SimSpec
from scripts.kube import KubeClient, new_client
from scripts.processes import alive, port_in_use, terminate
from scripts.sim.kube import (
    api_ready,
    apply_storage_class,
    default_service_account,
    forget_leases,
    leaders_fresh,
    nodes_ready,
    reconcile_nodes,
    wait_until,
)
from scripts.sim.nodes import NodeUsage, usage

CONTEXT = "snap2prod-sim"
CLUSTER_NAME = "snap2prod"
START_TIMEOUT_S = 120.0
STAGES = (  # kwok's own stages; passing any Stage replaces kwokctl's defaults, so list every one we rely on
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
    "volume/fast/pvc-provision.yaml",
    "volume/fast/pv-bind.yaml",
    "volume/fast/pvc-delete.yaml",
    "volume/fast/pv-delete.yaml",
)


def default_root() -> Path:
    """Where the sim cluster's state lives: under the snap2prod cache, never in the repository."""
    return Path(os.environ.get("SNAP2PROD_SIM_DIR", toolchain.cache_dir() / "sim"))


@dataclass(frozen=True)
class SimCluster:
    """How to reach a running sim cluster: a self-contained kubeconfig and the context to use."""

    kubeconfig: Path
    context: str
    server: str


@dataclass(frozen=True)
class SimStatus:
    """What `sim status` shows."""

    running: bool
    server: str
    kubeconfig: Path
    nodes: list[NodeUsage]
    pods_running: int
    pods_pending: int


class Sim:
    """One kwokctl cluster whose state lives in ``root`` (tests give each run its own root)."""

    def __init__(self, root: Path | None = None, name: str = CLUSTER_NAME) -> None:
        self.root = (root or default_root()).absolute()
        self.name = name

    @property
    def workdir(self) -> Path:
        return self.root / "kwok"

    @property
    def cluster_dir(self) -> Path:
        return self.workdir / "clusters" / self.name

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def log(self) -> Path:
        return self.root / "kwokctl.log"

    def exists(self) -> bool:
        return (self.cluster_dir / "kwok.yaml").exists()

    def configured_port(self) -> int | None:
        """The API server port kwokctl chose or was given, read from the cluster's saved config."""
        try:
            docs = list(yaml.safe_load_all((self.cluster_dir / "kwok.yaml").read_text()))
        except FileNotFoundError:
            return None
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "KwokctlConfiguration":
                port = doc.get("options", {}).get("kubeApiserverPort")
                return int(port) if port else None
        return None

    def processes(self) -> list[int]:
        """Pids of the live control-plane processes of this cluster (their command lines name its directory)."""
        marker = str(self.cluster_dir).encode()
        pids = []
        for entry in Path("/proc").glob("[0-9]*"):
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline and int(entry.name) != os.getpid() and alive(int(entry.name)):
                pids.append(int(entry.name))
        return sorted(pids)

    # --- up ---------------------------------------------------------------------------------------

    def up(self, spec: SimSpec, *, port: int = 0) -> SimCluster:
        """Start (or reuse) the control plane, then make the nodes match ``spec``; a second call changes nothing."""
        spec.validate()
        if not 0 <= port <= 65535:
            raise SimError(f"--port must be between 1 and 65535, got {port}")
        existing = self.configured_port() if self.exists() else None
        if existing is not None and port and port != existing:
            raise SimError(
                f"the sim cluster in {self.root} already uses port {existing}; run `snap2prod sim down` to change it"
            )
        if existing is not None and not self.processes() and port_in_use(existing):
            raise SimError(
                f"port {existing}, where the stopped sim cluster's API server listens, is now in use; "
                "run `snap2prod sim down`, then `sim up` again"
            )
        if existing is None and port and port_in_use(port):
            raise SimError(f"port {port} is in use; pick another --port, or leave it out to get a free one")
        with step("tools (kube-apiserver, etcd, kwok, kubectl)"):
            tools = _tools()
        fresh = not self.exists()
        self._forget_stale_pids()
        before = self.components()
        try:
            with step("control plane (etcd, kube-apiserver, scheduler, controller-manager, kwok)"):
                self._kwokctl_create(tools, port)
            started = {name for name, pid in self.components().items() if before.get(name) != pid}
            cluster = self._write_kubeconfig()
            api = self.api_client()
            logs = self.cluster_dir / "logs"

            def wait(what: str, check: Callable[[], bool]) -> None:
                wait_until(what, check, START_TIMEOUT_S, logs, failed=self.dead_component)

            try:
                with step("API server, scheduler and controllers ready"):
                    wait("the API server", lambda: api_ready(api))
                    restart_kwok = "kwok-controller" in started and not fresh
                    if restart_kwok:
                        # kwok reads node leases once at start-up and would leave nodes whose lease names its
                        # dead predecessor alone until it expires; stopped before the leases go, it cannot write
                        # new ones naming itself, and once started again it finds none
                        terminate([self.components()["kwok-controller"]])
                        self._forget_stale_pids()
                    forget_leases(api, started)
                    if restart_kwok:
                        self._kwokctl_create(tools, port)
                    wait("kube-scheduler and kube-controller-manager", lambda: leaders_fresh(api))
                    wait("the default ServiceAccount", lambda: default_service_account(api))
                with step(f"nodes: {_describe(spec)}"):
                    apply_storage_class(api)
                    names = reconcile_nodes(api, spec)
                    wait("the simulated nodes", lambda: nodes_ready(api, names))
            finally:
                api.close()
        except BaseException:
            if fresh:
                self.down()
            else:  # stop what did start; the saved state stays for the next `sim up`
                terminate(self.processes(), timeout_s=3)
            raise
        return cluster

    def components(self) -> dict[str, int]:
        """The running components kwokctl started and their pids (from its pid files)."""
        running = {}
        for pid_file in (self.cluster_dir / "pids").glob("*.pid"):
            with contextlib.suppress(OSError, ValueError):
                pid = int(pid_file.read_text().strip())
                if alive(pid):
                    running[pid_file.stem] = pid
        return running

    def dead_component(self) -> str | None:
        """A component kwokctl started that has exited, with the last lines of its log; None when all run."""
        for pid_file in sorted((self.cluster_dir / "pids").glob("*.pid")):
            try:
                pid = int(pid_file.read_text().strip())
            except (OSError, ValueError):
                continue
            if not alive(pid):
                log = self.cluster_dir / "logs" / f"{pid_file.stem}.log"
                try:
                    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
                except OSError:
                    lines = []
                busy = re.search(r"listen tcp ([\d.]+:\d+): bind: address already in use", "\n".join(lines[-20:]))
                if busy:
                    return (
                        f"{pid_file.stem} exited during start-up: {busy.group(1)} is in use by another program; "
                        f"stop it, or `snap2prod sim down` and `sim up` to get new ports (log: {log})"
                    )
                last = "\n  ".join(line[:300] for line in lines[-3:]) or "(empty log)"
                return f"{pid_file.stem} exited during start-up; last lines of {log}:\n  {last}"
        return None

    def _forget_stale_pids(self) -> None:
        """Drop kwokctl pid files whose process is gone: after a reboot their numbers belong to other programs,
        and kwokctl would take those for running components and never start them."""
        ours = set(self.processes())
        for pid_file in (self.cluster_dir / "pids").glob("*.pid"):
            try:
                pid = int(pid_file.read_text().strip())
            except (OSError, ValueError):
                pid = -1
            if pid not in ours:
                pid_file.unlink(missing_ok=True)

    def _kwokctl_create(self, tools: dict[str, Path], port: int) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        stages = self.root / "kwok-config.yaml"
        stages.write_text(_kwok_config(tools["stages"]))
        flags = {
            "--runtime": "binary",
            "--kube-apiserver-binary": str(tools["kube-apiserver"]),
            "--kube-scheduler-binary": str(tools["kube-scheduler"]),
            "--kube-controller-manager-binary": str(tools["kube-controller-manager"]),
            "--kwok-controller-binary": str(tools["kwok"]),
            "--etcd-binary": str(tools["etcd"]),
            "--config": str(stages),
            "--kubeconfig": "",
            "--timeout": f"{START_TIMEOUT_S:.0f}s",
        }
        cmd = [str(tools["kwokctl"]), "--name", self.name, "create", "cluster"]
        cmd += [part for flag in flags.items() for part in flag]
        if port:
            cmd += ["--kube-apiserver-port", str(port)]
        self._kwokctl(cmd)

    def _kwokctl(self, cmd: list[str]) -> None:
        kubectl_dir = toolchain.tool_dir("kubectl", toolchain.KUBERNETES_VERSION) / "bin"
        env = {
            **os.environ,
            "KWOK_WORKDIR": str(self.workdir),
            "KWOK_KUBE_VERSION": f"v{toolchain.KUBERNETES_VERSION}",
            # kwokctl asks `kubectl get --raw /version` whether the API serves, and downloads kubectl if none is
            # on PATH: give it the pinned one so nothing is fetched and no other kubectl is picked up
            "PATH": f"{kubectl_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        self.root.mkdir(parents=True, exist_ok=True)
        # kwokctl waits 2 min for a dead API server to serve: watch for that
        what = f"kwokctl {cmd[3]} {cmd[4]} failed"
        toolchain.run(cmd, self.log, env=env, watch=self.dead_component, what=what, error=SimError)

    def _write_kubeconfig(self) -> SimCluster:
        """A kubeconfig with the certificates inlined and one context, `snap2prod-sim`, so it works anywhere."""
        source = yaml.safe_load((self.cluster_dir / "kubeconfig.yaml").read_text())
        cluster = dict(source["clusters"][0]["cluster"])
        user = dict(source["users"][0]["user"])
        for section, key in ((cluster, "certificate-authority"), (user, "client-certificate"), (user, "client-key")):
            path = section.pop(key, None)
            if path:
                section[f"{key}-data"] = base64.b64encode(Path(path).read_bytes()).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": CONTEXT, "cluster": cluster}],
            "users": [{"name": CONTEXT, "user": user}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT}}],
            "current-context": CONTEXT,
        }
        self.kubeconfig.touch(mode=0o600)
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
        return SimCluster(kubeconfig=self.kubeconfig, context=CONTEXT, server=str(cluster["server"]))

    def api_client(self) -> KubeClient:
        """A kubernetes-client ApiClient for this cluster (close it when done)."""
        return new_client(self.kubeconfig, CONTEXT)

    # --- down and status --------------------------------------------------------------------------

    def down(self) -> bool:
        """Stop every process of the cluster and delete its state; True when there was something to stop."""
        pids = self.processes()  # before kwokctl: an exiting process's command line reads empty
        had = self.exists() or bool(pids)
        if self.exists():
            with contextlib.suppress(SimError, toolchain.ToolchainError):
                self._kwokctl([str(toolchain.binary("kwok", "kwokctl")), "--name", self.name, "delete", "cluster"])
        terminate(sorted({*pids, *self.processes()}))  # kwokctl only signals; wait until ports are released
        left = [p for p in pids if alive(p)] + self.processes()
        if left:
            raise SimError(f"could not stop sim cluster processes {left}; see {self.log}")
        self.kubeconfig.unlink(missing_ok=True)
        return had

    def status(self) -> SimStatus:
        """Nodes and their GPUs free/used, as the API server reports them."""
        if not self.exists() or not self.kubeconfig.exists():
            return SimStatus(False, "", self.kubeconfig, [], 0, 0)
        server = str(yaml.safe_load(self.kubeconfig.read_text())["clusters"][0]["cluster"]["server"])
        api = self.api_client()
        try:
            from kubernetes import client

            core = client.CoreV1Api(api)
            nodes = core.list_node(_request_timeout=5).items
            pods = core.list_pod_for_all_namespaces(_request_timeout=5).items
        except Exception:  # connection refused, timeouts: the processes are not serving
            return SimStatus(False, server, self.kubeconfig, [], 0, 0)
        finally:
            api.close()
        phases = [p.status.phase if p.status else None for p in pods]
        return SimStatus(
            True, server, self.kubeconfig, usage(nodes, pods), phases.count("Running"), phases.count("Pending")
        )


# --- helpers ---------------------------------------------------------------------------------------


def _tools() -> dict[str, Path]:
    kube = toolchain.ensure("kubernetes") / "bin"
    kwok = toolchain.ensure("kwok")
    return {
        "kube-apiserver": kube / "kube-apiserver",
        "kube-scheduler": kube / "kube-scheduler",
        "kube-controller-manager": kube / "kube-controller-manager",
        "etcd": toolchain.binary("etcd"),
        "kwok": kwok / "bin" / "kwok",
        "kwokctl": kwok / "bin" / "kwokctl",
        "kubectl": toolchain.binary("kubectl"),
        "stages": kwok / "stages",
    }


def _kwok_config(stages_dir: Path) -> str:
    """kwokctl's config: loopback only, plus kwok's Stage documents (its folders also hold a StorageClass, which
    goes to the API instead)."""
    docs: list[dict[str, Any]] = [
        {  # every component listens on loopback only (kwokctl's default is all interfaces)
            "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
            "kind": "KwokctlConfiguration",
            "options": {"bindAddress": "127.0.0.1"},
        }
    ]
    for rel in STAGES:
        for doc in yaml.safe_load_all((stages_dir / rel).read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Stage":
                docs.append(doc)
                if doc["metadata"]["name"] == "pod-complete":
                    docs.append(_bare_pod_complete(doc))
    return yaml.safe_dump_all(docs, sort_keys=False)


def _bare_pod_complete(job_pod_complete: dict[str, Any]) -> dict[str, Any]:
    """kwok completes only the pods of Jobs; a kubelet also runs a bare ``restartPolicy: Never`` pod (a helm test
    hook) to completion. The same stage, for those pods."""
    spec = dict(job_pod_complete["spec"])
    spec["selector"] = {
        "matchExpressions": [
            *(e for e in spec["selector"]["matchExpressions"] if e["key"] != ".metadata.ownerReferences.[].kind"),
            {"key": ".metadata.ownerReferences", "operator": "DoesNotExist"},
            {"key": ".spec.restartPolicy", "operator": "In", "values": ["Never"]},
        ]
    }
    return {**job_pod_complete, "metadata": {"name": "pod-complete-bare"}, "spec": spec}


def _describe(spec: SimSpec) -> str:
    parts = []
    if spec.gpu_nodes:
        what = f"{spec.devices_per_node} {spec.gpu_resource}"
        parts.append(f"{spec.gpu_nodes} GPU node(s) × {what} ({spec.gpu_product}, {spec.memory_mib} MiB)")
    if spec.cpu_nodes:
        parts.append(f"{spec.cpu_nodes} CPU node(s)")
    return ", ".join(parts)
