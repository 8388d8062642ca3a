"""Dify's External Knowledge API: registration check, retrieval, thresholds, metadata conditions."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.dify import MetadataCondition, matches
from tests.api.conftest import DEMO, served_settings

Keyed = tuple[TestClient, str, str]
QUERY = "When was Northwind Robotics founded?"


def body(**overrides: Any) -> dict[str, Any]:
    return {
        "knowledge_id": DEMO,
        "query": QUERY,
        "retrieval_setting": {"top_k": 3, "score_threshold": 0.0},
        **overrides,
    }


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"Authorization": "Bearer rag-wrong"}, 1002),
        ({"Authorization": "Token abc"}, 1001),
        ({}, 1001),
    ],
)
def test_registration_with_a_bad_key_is_refused_with_403(
    keyed: Keyed, headers: dict[str, str], code: int
) -> None:
    client, _, _ = keyed
    response = client.post("/retrieval", headers=headers)  # Dify's check: no body at all
    assert response.status_code == 403  # a 401 would pass Dify's check
    assert response.json()["error_code"] == code and response.json()["error_msg"]


def test_registration_with_a_good_key_and_no_body_is_a_4xx_json_error(keyed: Keyed) -> None:
    client, demo_key, _ = keyed
    response = client.post("/retrieval", headers={"Authorization": f"Bearer {demo_key}"})
    assert 400 <= response.status_code < 500
    assert set(response.json()) == {"error_code", "error_msg"}
    broken = client.post(
        "/retrieval", content=b'{"query": 5', headers={"Authorization": f"Bearer {demo_key}"}
    )
    assert broken.status_code == 400 and broken.json()["error_code"] == 1003


def test_records_have_dify_shape_scores_in_range_and_at_most_top_k(keyed: Keyed) -> None:
    client, demo_key, _ = keyed
    response = client.post(
        "/retrieval", json=body(metadata_condition=None), headers={"Authorization": f"Bearer {demo_key}"}
    )
    records = response.json()["records"]
    assert response.status_code == 200 and 0 < len(records) <= 3
    for record in records:
        assert set(record) == {"content", "score", "title", "metadata"}
        assert isinstance(record["metadata"], dict) and 0.0 <= record["score"] <= 1.0
    assert records[0]["title"] == "handbook.md" and "founded in 2014" in records[0]["content"]
    assert [r["score"] for r in records] == sorted((r["score"] for r in records), reverse=True)


def test_records_under_the_threshold_are_dropped(keyed: Keyed) -> None:
    client, demo_key, _ = keyed
    headers = {"Authorization": f"Bearer {demo_key}"}
    everything = client.post("/retrieval", json=body(), headers=headers).json()["records"]
    threshold = (everything[0]["score"] + everything[-1]["score"]) / 2
    setting = {"top_k": 3, "score_threshold": threshold}
    kept = client.post("/retrieval", json=body(retrieval_setting=setting), headers=headers).json()["records"]
    assert kept and all(r["score"] >= threshold for r in kept) and len(kept) < len(everything)


def test_an_unknown_knowledge_id_is_2001(keyed: Keyed) -> None:
    client, demo_key, _ = keyed
    response = client.post(
        "/retrieval", json=body(knowledge_id="nope"), headers={"Authorization": f"Bearer {demo_key}"}
    )
    assert response.status_code == 404 and response.json()["error_code"] == 2001


def test_metadata_conditions_filter_the_records(keyed: Keyed) -> None:
    client, demo_key, _ = keyed
    condition = {
        "logical_operator": "and",
        "conditions": [{"name": "file_name", "comparison_operator": "is", "value": "support.html"}],
    }
    response = client.post(
        "/retrieval", json=body(metadata_condition=condition), headers={"Authorization": f"Bearer {demo_key}"}
    )
    records = response.json()["records"]
    assert records and all(r["title"] == "support.html" for r in records)


def test_the_route_is_also_served_under_the_configured_prefix(served_data: Any) -> None:
    with TestClient(create_app(served_settings(served_data, dify_prefix="dify/"))) as client:
        response = client.post("/dify/retrieval", json=body())
        assert response.status_code == 200 and response.json()["records"]


META = {"source": "/docs/report.pdf", "page": 7, "tags": ["hr", "policy"], "date": "2024-03-01", "empty": ""}


@pytest.mark.parametrize(
    ("name", "operator", "value", "expected"),
    [
        ("source", "contains", "report", True),
        ("source", "not contains", "report", False),
        ("tags", "contains", "hr", True),
        ("source", "start with", "/docs", True),
        ("source", "end with", ".docx", False),
        ("source", "is", "/docs/report.pdf", True),
        ("source", "is not", "/docs/report.pdf", False),
        ("page", "in", ["6", "7"], True),
        ("page", "not in", ["6", "7"], False),
        ("empty", "empty", None, True),
        ("missing", "empty", None, True),
        ("page", "not empty", None, True),
        ("page", "=", 7, True),
        ("page", "≠", 7, False),
        ("page", ">", "6.5", True),
        ("page", "<", 7, False),
        ("page", "≥", 7, True),
        ("page", "≤", 6, False),
        ("source", ">", 1, False),  # not a number: no match
        ("date", "before", "2024-06-01", True),
        ("date", "after", "2024-06-01", False),
        ("date", "after", 1700000000, True),  # a Unix timestamp (2023-11-14)
        ("source", "before", "2024-06-01", False),  # not a date: no match
    ],
)
def test_each_dify_operator(name: str, operator: str, value: Any, expected: bool) -> None:
    condition = MetadataCondition.model_validate(
        {"conditions": [{"name": name, "comparison_operator": operator, "value": value}]}
    )
    assert matches(META, condition) is expected


def test_conditions_combine_with_and_or_or() -> None:
    yes = {"name": "page", "comparison_operator": "=", "value": 7}
    no = {"name": "page", "comparison_operator": "=", "value": 8}
    both = MetadataCondition.model_validate({"logical_operator": "and", "conditions": [yes, no]})
    either = MetadataCondition.model_validate({"logical_operator": "or", "conditions": [yes, no]})
    assert not matches(META, both) and matches(META, either)
