from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fleetctl import metrics
from fleetctl.errors import UsageError


def sample_metrics() -> list[metrics.Metric]:
    return [
        metrics.Metric(
            "fleetctl_agents",
            "gauge",
            "Agents by state.",
            (metrics._one(2, state="running", fleet="f"), metrics._one(0, state="failed", fleet="f")),
        ),
        metrics.Metric(
            "fleetctl_events_total",
            "counter",
            'Events; "quoted" \\ help\nnext',
            (metrics._one(7, kind='we"ird\\kind\n', fleet="f"),),
        ),
        metrics.Metric("fleetctl_observe_seconds", "gauge", "Observation.", (metrics._one(0.0123, fleet="f"),)),
        metrics.Metric(
            "fleetctl_dispatch_latency_seconds",
            "summary",
            "Latency.",
            (
                metrics._one(1.5, quantile="0.5", fleet="f"),
                metrics._one(3.0, "_sum", fleet="f"),
                metrics._one(2, "_count", fleet="f"),
            ),
        ),
        metrics.Metric(
            "fleetctl_nan", "gauge", "Odd values.", (metrics._one(float("nan")), metrics._one(float("inf"), x="1"))
        ),
    ]


def test_render_parses_with_prometheus_client() -> None:
    text = metrics.render(sample_metrics())
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["fleetctl_agents"].type == "gauge"
    running = [s for s in families["fleetctl_agents"].samples if s.labels["state"] == "running"]
    assert running[0].value == 2
    events = families["fleetctl_events"]
    assert events.type == "counter"
    assert events.samples[0].labels["kind"] == 'we"ird\\kind\n'
    assert families["fleetctl_observe_seconds"].samples[0].value == pytest.approx(0.0123)
    summary = families["fleetctl_dispatch_latency_seconds"]
    assert {s.name for s in summary.samples} == {
        "fleetctl_dispatch_latency_seconds",
        "fleetctl_dispatch_latency_seconds_sum",
        "fleetctl_dispatch_latency_seconds_count",
    }
    assert text.endswith("\n")


def test_textfile_is_replaced_atomically(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "fleet.prom"
    target.write_text("old\n")
    up = metrics.Metric(name="fleetctl_up", kind="gauge", help="Up.", samples=(metrics._one(1, fleet="f"),))
    metrics.write_textfile(target, [up])
    families = {f.name: f for f in text_string_to_metric_families(target.read_text())}
    assert families["fleetctl_up"].samples[0].value == 1
    assert families["fleetctl_up"].samples[0].labels == {"fleet": "f"}
    assert [p.name for p in target.parent.iterdir()] == ["fleet.prom"]  # no temp file left behind
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_textfile_in_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        metrics.write_textfile(tmp_path / "nope" / "x.prom", "")
