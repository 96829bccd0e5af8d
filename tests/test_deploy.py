"""``deploy/``: the compose file, the Kubernetes manifest, the Dockerfile, the Prometheus
scrape config and the Grafana dashboard name only commands, options, ports, routes, env
vars, config keys, metrics and labels that exist in this version."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tokenthrift.cli.main import cli
from tokenthrift.cli.serve_cmd import check_levers, refuse_unshared_limits
from tokenthrift.config import GatewayConfig, parse_config
from tokenthrift.observability import parse_observability
from tokenthrift.observability.metrics import GatewayMetrics
from tokenthrift.observability.registry import Histogram

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
GATEWAY_PORT = 8787
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Environment variables the gateway reads itself (besides ${VAR} references in its config).
GATEWAY_ENV = {"TOKENTHRIFT_MASTER_KEY"}


def _yaml(path: str) -> Any:
    return yaml.safe_load((DEPLOY / path).read_text())


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = _yaml("compose.yaml")
    return compose


def _gateways(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if s.get("image") == "tokenthrift:local"}


def _config_refs() -> set[str]:
    return set(_ENV_REF.findall((DEPLOY / "tokenthrift.yaml").read_text()))


def _check_serve_argv(argv: list[str]) -> dict[str, str]:
    """``serve`` and each option exist in this CLI; returns the options given."""
    command, *args = argv
    assert command in cli.commands, f"no `tokenthrift {command}` command"
    options = {opt for param in cli.commands[command].params for opt in getattr(param, "opts", [])}
    given = dict(zip(args[::2], args[1::2], strict=True))
    assert set(given) <= options, f"unknown options {set(given) - options} for {command}"
    return given


def _routes() -> set[str]:
    from tokenthrift.assembly import build_gateway
    from tokenthrift.server.app import create_app

    gateway = build_gateway(GatewayConfig.embedded_default("/tmp/tt-deploy-routes"))
    try:
        return {route.path for route in create_app(gateway).routes}  # type: ignore[attr-defined]
    finally:
        gateway.writer.close()
        gateway.ledger.close()


def test_compose_runs_gateway_replicas_with_this_versions_cli_and_config() -> None:
    compose = _compose()
    gateways = _gateways(compose)
    assert len(gateways) >= 2, "several replicas"
    mounted = set()
    for name, service in gateways.items():
        given = _check_serve_argv(service["command"])
        assert given["--port"] == str(GATEWAY_PORT) and given["--host"] == "0.0.0.0"
        config_path = given["--config"]
        volumes = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
        assert volumes[config_path] == "./tokenthrift.yaml", name
        mounted.add(config_path)
        env = service["environment"]
        missing = _config_refs() - set(env)
        assert not missing, f"{name}: the config references unset env vars {missing}"
        assert set(env) <= _config_refs() | GATEWAY_ENV, f"{name}: env vars nothing reads"
    for needed in ("postgres", "redis", "prometheus", "grafana", "lb"):
        assert needed in compose["services"]
    ledger = next(iter(gateways.values()))["environment"]["TOKENTHRIFT_LEDGER_URL"]
    postgres = compose["services"]["postgres"]["environment"]
    assert ledger == (f"postgresql://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
                      f"@postgres:5432/{postgres['POSTGRES_DB']}")
    assert next(iter(gateways.values()))["environment"]["TOKENTHRIFT_REDIS_URL"].startswith(
        "redis://redis:6379")


def test_load_balancer_and_prometheus_point_at_every_replica() -> None:
    gateways = sorted(_gateways(_compose()))
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert sorted(re.findall(r"server (\S+):(\d+);", nginx)) == [
        (g, str(GATEWAY_PORT)) for g in gateways]
    assert f"listen {GATEWAY_PORT};" in nginx
    scrape = _yaml("prometheus/prometheus.yml")["scrape_configs"]
    (job,) = [j for j in scrape if j["job_name"] == "tokenthrift"]
    assert job["metrics_path"] == "/metrics"
    targets = job["static_configs"][0]["targets"]
    assert sorted(targets) == [f"{g}:{GATEWAY_PORT}" for g in gateways]
    promtool = shutil.which("promtool")
    if promtool:  # ships with the Debian prometheus package
        subprocess.run([promtool, "check", "config", str(DEPLOY / "prometheus/prometheus.yml")],
                       check=True, capture_output=True)


def test_deploy_config_is_valid_for_several_replicas(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _config_refs():
        monkeypatch.setenv(name, {"TOKENTHRIFT_LEDGER_URL": "postgresql://u:p@db:5432/t",
                                  "TOKENTHRIFT_REDIS_URL": "redis://redis:6379/0"}.get(name, "x"))
    raw = _yaml("tokenthrift.yaml")
    config = parse_config(raw)
    assert set(check_levers(config)) >= {"governance", "cache"}  # every lever section parses
    parse_observability(config.observability)
    assert config.storage.ledger_is_postgres and config.storage.redis
    refuse_unshared_limits(config, workers=3)  # shared counters: no per-replica limits


def test_dockerfile_and_routes_the_deployment_relies_on() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1))  # type: ignore[union-attr]
    assert re.search(r'^ENTRYPOINT \["tokenthrift"\]$', dockerfile, re.M)
    assert cmd == next(iter(_gateways(_compose()).values()))["command"]
    assert f"EXPOSE {GATEWAY_PORT}" in dockerfile
    assert f"http://127.0.0.1:{GATEWAY_PORT}/health" in dockerfile
    routes = _routes()
    assert {"/health", "/metrics", "/ui", "/v1/chat/completions", "/v1/messages"} <= routes


def test_kubernetes_manifest_matches_the_compose_setup() -> None:
    docs = {d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "k8s/tokenthrift.yaml").read_text())}
    assert yaml.safe_load(docs["ConfigMap"]["data"]["tokenthrift.yaml"]) == _yaml("tokenthrift.yaml")
    deployment = docs["Deployment"]
    assert deployment["spec"]["replicas"] >= 2
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["tokenthrift"]
    given = _check_serve_argv(container["args"])
    assert container["args"] == next(iter(_gateways(_compose()).values()))["command"]
    (port,) = container["ports"]
    assert port["containerPort"] == int(given["--port"]) == GATEWAY_PORT
    routes = _routes()
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] in routes
        assert container[probe]["httpGet"]["port"] == port["name"]
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(GATEWAY_PORT)
    assert annotations["prometheus.io/path"] in routes
    (mount,) = container["volumeMounts"]
    assert Path(given["--config"]).parent == Path(mount["mountPath"])
    assert pod["spec"]["volumes"][0]["configMap"]["name"] == docs["ConfigMap"]["metadata"]["name"]
    secret = docs["Secret"]
    assert container["envFrom"][0]["secretRef"]["name"] == secret["metadata"]["name"]
    assert _config_refs() <= set(secret["stringData"])
    assert set(secret["stringData"]) <= _config_refs() | GATEWAY_ENV
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    assert docs["Service"]["spec"]["selector"] == selector
    assert docs["Service"]["spec"]["ports"][0]["targetPort"] == port["name"]


def test_grafana_provisioning_finds_the_dashboard_and_prometheus() -> None:
    compose = _compose()
    grafana = compose["services"]["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    provider = _yaml("grafana/provisioning/dashboards/tokenthrift.yaml")["providers"][0]
    assert mounts[provider["options"]["path"]] == "./grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"
    (source,) = _yaml("grafana/provisioning/datasources/prometheus.yaml")["datasources"]
    assert source["url"] == "http://prometheus:9090" and "prometheus" in compose["services"]
    dashboard = json.loads((DEPLOY / "grafana/dashboards/tokenthrift.json").read_text())
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p.get("targets", [])}
    assert uids == {source["uid"]}


# -- the dashboard's PromQL ------------------------------------------------------------


def exported_series() -> dict[str, set[str]]:
    """Every sample name /metrics can expose, with its labels (default label set)."""
    series: dict[str, set[str]] = {}
    for metric in GatewayMetrics().all:
        labels = set(metric.labels)
        if isinstance(metric, Histogram):
            series[metric.name + "_bucket"] = labels | {"le"}
            series[metric.name + "_sum"] = series[metric.name + "_count"] = labels
        else:
            series[metric.name] = labels
    return series


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(panel title, PromQL, legend format) of every target, and the template queries."""
    dashboard = json.loads((DEPLOY / "grafana/dashboards/tokenthrift.json").read_text())
    found = [(p["title"], t["expr"], t.get("legendFormat", ""))
             for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        found.append((f"${variable['name']}", variable["definition"], ""))
    return found


_SELECTOR = re.compile(r"(tokenthrift_[a-z_]+)\s*(\{[^}]*\})?")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_LABEL_VALUES = re.compile(r"label_values\((tokenthrift_[a-z_]+),\s*([a-z_]+)\)")


def test_every_dashboard_query_uses_only_exported_metrics_and_labels() -> None:
    series = exported_series()
    queries = dashboard_queries()
    assert len(queries) > 20
    for title, expr, legend in queries:
        names = _SELECTOR.findall(expr)
        assert names, f"{title}: no tokenthrift metric in {expr!r}"
        available: set[str] = set()
        for name, selector in names:
            assert name in series, f"{title}: {name} is not exported"
            available |= series[name]
            for label in _MATCHER.findall(selector or ""):
                assert label in series[name], f"{title}: {name} has no label {label!r}"
        for group in _GROUPING.findall(expr):
            for label in filter(None, (x.strip() for x in group.split(","))):
                assert label in available, f"{title}: no label {label!r} in {expr!r}"
        for label in re.findall(r"\{\{\s*(\w+)\s*\}\}", legend):
            assert label in available, f"{title}: legend label {label!r} never exists"
        for name, label in _LABEL_VALUES.findall(expr):
            assert label in series[name], f"{title}: {name} has no label {label!r}"


def test_dashboard_covers_what_the_issue_asks_for() -> None:
    titles = " | ".join(t.lower() for t, _, _ in dashboard_queries())
    for topic in ("spend", "savings by lever", "tokens by type", "cache hit rate", "routing mix",
                  "request duration", "overhead", "budget"):
        assert topic in titles, f"no panel about {topic}"
    assert any("baseline" in expr for _, expr, _ in dashboard_queries())

