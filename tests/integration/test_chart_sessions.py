"""Sessions that stick: Streamlit keeps a session in one process, so every route to the app pins a browser to a pod.

Rendered by the real Helm v4; the API server's view of the Service is checked in test_chart_sim.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.chart.helm import CHART, ENVIRONMENTS, helm, lock_values, one, render_error, template, values_args

COOKIE = "nginx.ingress.kubernetes.io/affinity"


@pytest.fixture(scope="module")
def lock_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lock_values(tmp_path_factory.mktemp("lock") / "lock-values.yaml")


def notes(env: str, lock_file: Path, *sets: str) -> str:
    args = ["install", "snap2prod", str(CHART), "--dry-run=client", *values_args(env, lock_file)]
    for s in sets:
        args += ["--set", s]
    proc = helm(*args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def app_service(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return one(docs, "Service", "app")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_app_service_pins_a_client_to_one_pod_for_three_hours(env: str, lock_file: Path) -> None:
    spec = app_service(template(env, lock_file))["spec"]
    assert spec["sessionAffinity"] == "ClientIP"
    assert spec["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


def test_affinity_off_renders_no_affinity_config(lock_file: Path) -> None:
    spec = app_service(template("prod", lock_file, sets=["app.service.sessionAffinity.type=None"]))["spec"]
    assert spec["sessionAffinity"] == "None"
    assert "sessionAffinityConfig" not in spec


def test_prod_ingress_nginx_pins_each_browser_with_a_secure_cookie_as_long_as_the_service(lock_file: Path) -> None:
    docs = template("prod", lock_file)
    annotations = one(docs, "Ingress", "app")["metadata"]["annotations"]
    assert annotations[COOKIE] == "cookie"
    assert annotations["nginx.ingress.kubernetes.io/affinity-mode"] == "persistent"
    assert annotations["nginx.ingress.kubernetes.io/session-cookie-secure"] == "true"
    timeout = app_service(docs)["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"]
    assert annotations["nginx.ingress.kubernetes.io/session-cookie-max-age"] == str(timeout)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("app.service.sessionAffinity.type=Cookie", "at '/app/service/sessionAffinity/type': value must be one of"),
        ("app.service.sessionAffinity.timeoutSeconds=0", "at '/app/service/sessionAffinity/timeoutSeconds': minimum"),
        ("app.service.sessionAffinity.timeoutSeconds=86401", "/sessionAffinity/timeoutSeconds': maximum"),
    ],
)
def test_the_schema_keeps_affinity_to_what_a_service_accepts(value: str, message: str) -> None:
    assert message in render_error("prod", sets=[value])


def test_notes_warn_when_several_replicas_have_no_affinity(lock_file: Path) -> None:
    out = notes("prod", lock_file, "app.service.sessionAffinity.type=None")
    assert "WARNING: 3 app replicas without session affinity (app.service.sessionAffinity.type None)" in out
    assert '"400 Invalid session_id"' in out


def test_notes_do_not_warn_about_affinity_for_one_replica_or_with_affinity_on(lock_file: Path) -> None:
    assert "session affinity" not in notes("prod", lock_file, "app.service.sessionAffinity.type=None", "app.replicas=1")
    assert "session affinity" not in notes("prod", lock_file)
    assert "without cookie affinity" not in notes("prod", lock_file)


def test_notes_warn_when_ingress_nginx_has_no_cookie_affinity(lock_file: Path) -> None:
    """The sim values: an nginx Ingress without annotations (the rehearsal cluster runs no ingress controller)."""
    out = notes("sim", lock_file)
    assert "WARNING: 2 app replicas behind ingress-nginx without cookie affinity" in out
    escaped = COOKIE.replace(".", "\\.")
    assert "without cookie affinity" not in notes("sim", lock_file, f"ingress.annotations.{escaped}=cookie")
