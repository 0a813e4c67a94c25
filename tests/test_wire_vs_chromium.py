"""bench/wire_vs_chromium.py: the prediction that ties the wire client's latency to the Chromium bench's."""

from bench.common import parse_last_json_line
from bench.wire_vs_chromium import compare


def wire_record(p95_by_users: dict[int, float]) -> dict:
    return {"rounds": [{"users": users, "overlay_p95_s": p95, "errors": 0, "upload_phase": {"server_cpu_s": 0.3}}
                       for users, p95 in p95_by_users.items()]}


def chromium_record(rounds: list[tuple[int, float, float]]) -> dict:
    return {"rounds": [{"sessions": users, "overlay_p95_s": p95, "errors": 0,
                        "upload_phase_cpu_s": {"server": 0.5, "chromium": cpu, "other": 0.1}}
                       for users, p95, cpu in rounds]}


def test_the_prediction_adds_the_browsers_cpu_spread_over_the_cores():
    rows = compare(wire_record({5: 0.2, 10: 0.3}), chromium_record([(5, 1.0, 1.6), (10, 2.0, 2.2)]), cores=2)
    five, ten = rows
    assert five["predicted_chromium_p95_s"] == 1.0 and five["prediction_error"] == 0.0 and five["within_tolerance"]
    assert ten["predicted_chromium_p95_s"] == 1.4 and ten["prediction_error"] == -0.3 and not ten["within_tolerance"]
    assert ten["raw_ratio"] == 0.15


def test_rounds_missing_on_either_side_are_left_out():
    rows = compare(wire_record({5: 0.2}), chromium_record([(5, 1.0, 1.6), (10, 2.0, 2.2)]), cores=2)
    assert [row["users"] for row in rows] == [5]


def test_the_last_json_line_is_the_record():
    assert parse_last_json_line('table\n{"a": 1}\n{"b": 2}\n') == {"b": 2}
