"""The rendered prod manifests checked by scanners we did not write: kube-score and checkov (pinned in the toolchain).

Every finding must be fixed in the chart or waived, with a reason, in tests/fixtures/chart/scanner-waivers.yaml;
a finding not on that list fails, and so does a waiver that matches nothing any more.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts import toolchain
from tests.fixtures.chart.helm import CHART, FIXTURE_LOCK, helm, lock_values, values_args

WAIVERS = FIXTURE_LOCK.parent / "scanner-waivers.yaml"
KUBERNETES = "v1.36"
Finding = tuple[str, str, str]
"""(check, object, summary): the summary is kube-score's comment line; checkov's check id says it all ("")."""


def render(tmp_path: Path, *sets: str) -> Path:
    args = [
        "template",
        "snap2prod",
        str(CHART),
        "-n",
        "snap2prod",
        *values_args("prod", lock_values(tmp_path / "l.yaml")),
    ]
    for s in sets:
        args += ["--set", s]
    proc = helm(*args)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "prod.yaml"
    out.write_text(proc.stdout)
    return out


def kube_score(manifests: Path) -> tuple[set[Finding], int]:
    """Findings (grade below 10, not skipped) and the number of passed checks."""
    cmd = [str(toolchain.binary("kube-score")), "score", "--kubernetes-version", KUBERNETES, "-o", "json"]
    proc = subprocess.run([*cmd, str(manifests)], capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr  # 1: it found something critical
    findings: set[Finding] = set()
    passed = 0
    for obj in json.loads(proc.stdout):
        name = f"{obj['type_meta']['kind']}/{obj['object_meta']['name']}"
        for check in obj["checks"]:
            if check["skipped"]:
                continue
            if check["grade"] == 10:
                passed += 1
                continue
            for comment in check["comments"] or [{"path": "", "summary": check["check"]["name"]}]:
                where = f"{name}:{comment['path']}" if comment["path"] else name
                findings.add((check["check"]["id"], where, comment["summary"]))
    return findings, passed


def checkov(manifests: Path) -> tuple[set[Finding], int]:
    cmd = [
        str(toolchain.binary("checkov")),
        "-f",
        str(manifests),
        "--framework",
        "kubernetes",
        "-o",
        "json",
        "--quiet",
        "--compact",
        "--skip-download",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300, cwd=manifests.parent)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    findings = set()
    for failed in report["results"]["failed_checks"]:
        kind, _namespace, name = failed["resource"].split(".", 2)
        findings.add((failed["check_id"], f"{kind}/{name}", ""))
    return findings, int(report["summary"]["passed"])


def waivers(scanner: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load(WAIVERS.read_text())[scanner])


def waived(scanner: str) -> set[Finding]:
    return {(w["check"], o, w.get("summary", "")) for w in waivers(scanner) for o in w["objects"]}


def unwaived(findings: set[Finding], scanner: str) -> list[Finding]:
    return sorted(findings - waived(scanner))


SCANNERS = {"kube-score": kube_score, "checkov": checkov}


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("prod"))


@pytest.fixture(scope="module")
def results(prod: Path) -> dict[str, tuple[set[Finding], int]]:
    return {name: scan(prod) for name, scan in SCANNERS.items()}


@pytest.mark.parametrize("scanner", SCANNERS)
def test_the_prod_manifests_have_no_finding_but_the_reasoned_waivers(
    scanner: str, results: dict[str, tuple[set[Finding], int]]
) -> None:
    findings, passed = results[scanner]
    assert unwaived(findings, scanner) == []
    assert passed >= 60  # the scanner really read the manifests (kube-score passes 65 checks, checkov 262)


@pytest.mark.parametrize("scanner", SCANNERS)
def test_every_waiver_still_matches_a_finding_and_says_why(
    scanner: str, results: dict[str, tuple[set[Finding], int]]
) -> None:
    findings, _ = results[scanner]
    assert sorted(waived(scanner) - findings) == []
    assert all(len(w["why"].split()) >= 10 for w in waivers(scanner))


def test_what_the_chart_fixed_fails_again_when_it_comes_back(tmp_path: Path) -> None:
    """The checks can fail: without the anti-affinity, the ephemeral-storage limit and the NetworkPolicies the
    scanners report findings the waiver list does not cover."""
    broken = render(
        tmp_path,
        "app.podAntiAffinity=none",
        "app.resources.limits.ephemeral-storage=null",
        "networkPolicy.enabled=false",
    )
    found, _ = kube_score(broken)
    new = {(check, where) for check, where, _ in unwaived(found, "kube-score")}
    assert ("deployment-has-host-podantiaffinity", "Deployment/snap2prod-app") in new
    assert ("container-ephemeral-storage-request-and-limit", "Deployment/snap2prod-app:app") in new
    assert ("pod-networkpolicy", "Deployment/snap2prod-ollama") in new
    found, _ = checkov(broken)
    assert {check for check, _, _ in unwaived(found, "checkov")} == {"CKV2_K8S_6"}  # pods without a policy


def test_both_scanners_are_the_pinned_versions(tmp_path: Path) -> None:
    for name in SCANNERS:
        tool = toolchain.TOOLS[name]
        assert tool.probe(toolchain.ensure(tool)) == tool.version
