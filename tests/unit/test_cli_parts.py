"""The CLI's shared parts: one error family, the digest rule from the schema, watch queries from the alerts,
the schema/values key check, and the gateway's base URL with a path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
import yaml

from app.errors import Snap2ProdError
from app.gateway import base_url
from scripts import chart_docs, cli, processes, toolchain
from scripts.demo.offline_models import SyntheticModelError
from scripts.errors import CliError
from scripts.gpu_shape import SimError
from scripts.paths import ALERTS, CHART, ROOT
from scripts.promote import errors, images, monitoring


@pytest.mark.parametrize(
    "error",
    [
        toolchain.ToolchainError,
        chart_docs.ChartDocsError,
        processes.ProcessError,
        SimError,
        SyntheticModelError,
        errors.PromoteError,
        errors.PreflightFailed,
    ],
)
def test_every_command_error_is_one_family_the_cli_catches(error: type[Exception]) -> None:
    assert issubclass(error, CliError)
    assert issubclass(error, Snap2ProdError)


def test_preflight_checks_belong_to_each_failure_not_to_the_class() -> None:
    first = errors.PreflightFailed("one", ["a"])
    second = errors.PreflightFailed("two")
    first.checks.append("b")
    assert second.checks == []
    assert first.checks == ["a", "b"]
    assert errors.PromoteError("x").report is None


def test_the_digest_rule_is_the_schema_s() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    for image in images.IMAGES:
        pattern = schema["properties"][image]["properties"]["image"]["properties"]["digest"]["pattern"]
        assert pattern == images.digest_pattern().pattern
    assert images.pinned("sha256:" + "a" * 64)
    assert not images.pinned("sha256:" + "A" * 64)
    assert not images.pinned("sha256:abc")


def test_only_the_all_zero_digest_is_a_placeholder() -> None:
    """The all-zero digest is the stand-in stacks/chart/values.yaml commits; a real digest is not one."""
    values = {"app": {"image": {"digest": "sha256:" + "0" * 64}}, "ollama": {"image": {"digest": "sha256:" + "a" * 64}}}
    assert images.placeholders(values) == ["app.image.digest"]


def test_the_watch_queries_are_the_alert_expressions_without_thresholds() -> None:
    """The queries promote printed before they were derived (its WATCH_QUERIES), now read from alerts.yaml."""
    spec = yaml.safe_load(ALERTS.read_text())["spec"]
    assert monitoring.queries(spec) == {
        "error rate": 'sum by (model) (rate(snap2prod_chat_requests_total{outcome!~"ok|cancelled"}[5m])) / '
        "sum by (model) (rate(snap2prod_chat_requests_total[5m]))",
        "p95 latency": "histogram_quantile(0.95, sum by (model, le) "
        "(rate(snap2prod_chat_duration_seconds_bucket[5m])))",
        "ollama up": "snap2prod_ollama_up",
        "models outside the lock": "max by (model) (snap2prod_model_outside_lock)",
    }


def test_the_chart_s_schema_and_values_name_the_same_keys() -> None:
    chart_docs.check_schema(CHART)


def test_chart_docs_check_names_keys_the_schema_and_values_disagree_about(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text("# -- a\na:\n  # -- b\n  b: 1\n  # -- extra\n  extra: 2\n")
    (tmp_path / "README.md").write_text(f"{chart_docs.START}\n{chart_docs.END}\n")
    schema = {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {}, "c": {}}}}}
    (tmp_path / "values.schema.json").write_text(json.dumps(schema))
    with pytest.raises(chart_docs.ChartDocsError) as failed:
        chart_docs.check_schema(tmp_path)
    assert "a.extra: in values.yaml, not in values.schema.json" in str(failed.value)
    assert "a.c: in values.schema.json, not in values.yaml" in str(failed.value)
    assert chart_docs.main(["--chart", str(tmp_path)]) == 0  # writing the README does not compare
    assert chart_docs.main(["--chart", str(tmp_path), "--check"]) == 1


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("127.0.0.1:11434", "http://127.0.0.1:11434"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        (
            "https://api:6443/api/v1/namespaces/n/services/o:http/proxy/",
            "https://api:6443/api/v1/namespaces/n/services/o:http/proxy",
        ),
    ],
)
def test_the_gateway_keeps_a_proxy_path(address: str, url: str) -> None:
    assert base_url(address) == url


PROMOTE_CODES = {
    errors.ParityFailed: 3,
    errors.TargetRefused: 4,
    errors.PreflightFailed: 5,
    errors.RolloutFailed: 6,
    errors.VerifyFailed: 7,
}
"""What the README promises a script checking `snap2prod promote` (written here, not read from the code)."""


@pytest.mark.parametrize(("error", "code"), PROMOTE_CODES.items(), ids=lambda e: getattr(e, "__name__", str(e)))
def test_a_failure_raised_by_any_command_exits_with_its_documented_code(
    error: type[errors.PromoteError], code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    app = typer.Typer()

    @app.command()
    def fails() -> None:
        raise error("the cluster said no")

    assert cli.run(app, []) == code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert captured.err.strip() == "error: the cluster said no"


def test_an_error_without_a_code_of_its_own_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    app = typer.Typer()

    @app.command()
    def fails() -> None:
        raise SimError("no sim")

    assert cli.run(app, []) == 1
    assert capsys.readouterr().err.strip() == "error: no sim"


def test_a_bad_flag_exits_2() -> None:
    assert cli.main(["models", "list", "--no-such-flag"]) == 2


def test_the_readme_lists_every_exit_code_as_the_cli_defines_them() -> None:
    readme = (ROOT / "README.md").read_text()
    assert cli.exit_code_table() in readme
    assert set(cli.EXIT_CODES) == set(range(8))
