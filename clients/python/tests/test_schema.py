"""docs/grade-item.schema.json, for tools in other languages, against the
same vectors: every valid item conforms; every invalid grade, written by
hand attribute for attribute, does not (but the one rule JSON Schema cannot
state: startedAt not later than submittedAt)."""

import json
from pathlib import Path

import jsonschema
import pytest

from ltisync_writer import activity_key

ROOT = Path(__file__).parents[3]
SCHEMA = json.loads((ROOT / "docs" / "grade-item.schema.json").read_text(encoding="utf-8"))
VECTORS = json.loads((ROOT / "clients" / "vectors.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def hand_written(grade):
    pk = activity_key(grade["platformId"], grade["contextId"], grade["resourceLinkId"])
    item = {"pk": {"S": pk}, "sk": {"S": "GRADE#x"}, "pending": {"S": pk}, "schemaVersion": {"N": "1"}}
    for name, value in grade.items():
        if name in ("platformId", "contextId", "resourceLinkId"):
            continue
        item[name] = {"N": str(value)} if isinstance(value, (int, float)) else {"S": value}
    return item


def test_the_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["name"])
def test_every_valid_item_conforms(vector):
    VALIDATOR.validate(vector["item"])


# An order between two times, and a calendar, are beyond JSON Schema: the
# writers and the sync check them.
BEYOND_SCHEMA = {
    "started after it was submitted",
    "a day that does not exist",
    "hour 24",
}


@pytest.mark.parametrize(
    "vector",
    [v for v in VECTORS["invalid"] if v["name"] not in BEYOND_SCHEMA],
    ids=lambda v: v["name"],
)
def test_every_invalid_grade_does_not(vector):
    assert not VALIDATOR.is_valid(hand_written(vector["grade"]))
