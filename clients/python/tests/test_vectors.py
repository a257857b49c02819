"""The writer against the contract every writer shares (clients/vectors.json)."""

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ltisync_writer import GradeError, activity_key, grade_item

VECTORS = json.loads((Path(__file__).parents[2] / "vectors.json").read_text(encoding="utf-8"))


def snake(grade):
    """The vector's camelCase names as this writer's snake_case ones."""
    return {re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() if name[0].islower() else name: value
            for name, value in grade.items()}


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["name"])
def test_writes_the_item(vector):
    grade = snake(vector["grade"])
    assert activity_key(grade["platform_id"], grade["context_id"], grade["resource_link_id"]) == vector["pk"]
    assert grade_item(**grade) == vector["item"]


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["name"])
def test_refuses_with_the_code(vector):
    names = snake(vector["grade"])
    with pytest.raises(GradeError) as refused:
        grade_item(**names)
    assert refused.value.code == vector["code"]


def test_a_misspelling_names_the_field_it_was_meant_to_be():
    grade = snake(VECTORS["valid"][0]["grade"])
    grade["scoreGiven"] = grade.pop("score_given")
    with pytest.raises(GradeError, match=r"unknown attribute 'scoreGiven' \(did you mean 'score_given'\?\)"):
        grade_item(**grade)


def test_graded_at_defaults_to_now_and_datetimes_become_rfc3339():
    grade = snake(VECTORS["valid"][0]["grade"])
    del grade["graded_at"]
    grade["submitted_at"] = datetime(2026, 11, 27, 22, 5, tzinfo=timezone.utc)
    item = grade_item(**grade)
    assert item["submittedAt"] == {"S": "2026-11-27T22:05:00Z"}
    assert item["gradedAt"]["S"].endswith("Z")


def test_decimals_are_written_as_plain_numbers():
    from decimal import Decimal

    grade = snake(VECTORS["valid"][0]["grade"])
    grade.update(score_given=Decimal("92.50"), score_maximum=Decimal("1E+2"))
    item = grade_item(**grade)
    assert (item["scoreGiven"], item["scoreMaximum"]) == ({"N": "92.5"}, {"N": "100"})
