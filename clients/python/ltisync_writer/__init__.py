"""Record grades for ltisync from Python.

One DynamoDB item per learner and activity, in the grade schema (version 1)
of docs/writing-grades.md. What this refuses, the sync would fail with the
same code: clients/vectors.json is the contract the Rust, Node and Python
writers share.

    import boto3
    from ltisync_writer import record_grade

    record_grade(boto3.client("dynamodb"), "my-ltisync-table",
                 platform_id="demo-platform", context_id="course-101",
                 resource_link_id="quiz-1", user_id="learner-ada",
                 score_given=92, score_maximum=100)
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Dict, Optional, Union

__all__ = ["GradeError", "activity_key", "grade_item", "record_grade"]

Time = Union[datetime, str]

ACTIVITY_PROGRESS = ("Initialized", "Started", "InProgress", "Submitted", "Completed")
GRADING_PROGRESS = ("FullyGraded", "Pending", "PendingManual", "Failed", "NotReady")
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
# The writer's names (snake_case) and the schema's attributes.
_FIELDS = {
    "platform_id": "platformId",
    "context_id": "contextId",
    "resource_link_id": "resourceLinkId",
    "user_id": "userId",
    "score_given": "scoreGiven",
    "score_maximum": "scoreMaximum",
    "comment": "comment",
    "activity_progress": "activityProgress",
    "grading_progress": "gradingProgress",
    "graded_at": "gradedAt",
    "started_at": "startedAt",
    "submitted_at": "submittedAt",
}
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


class GradeError(ValueError):
    """A grade the schema refuses; ``code`` is the one the sync would store."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _enc(text: str) -> str:
    """Every UTF-8 byte outside A-Z a-z 0-9 - _ . ~ as %XX."""
    return "".join(chr(b) if b in _UNRESERVED else "%%%02X" % b for b in text.encode("utf-8"))


def activity_key(platform_id: str, context_id: str, resource_link_id: str) -> str:
    """The activity's partition key, ``ACT#enc(platform)#enc(context)#enc(link)``."""
    for name, value in (
        ("platform_id", platform_id),
        ("context_id", context_id),
        ("resource_link_id", resource_link_id),
    ):
        if not isinstance(value, str) or value == "":
            raise GradeError("invalidGrade", f"{name} must be a non-empty string")
    return f"ACT#{_enc(platform_id)}#{_enc(context_id)}#{_enc(resource_link_id)}"


def _closest(name: str) -> Optional[str]:
    fold = lambda s: re.sub(r"[^a-z0-9]", "", s.lower())  # noqa: E731
    return next((f for f in _FIELDS if fold(f) == fold(name)), None)


def _number(value: Any) -> str:
    """DynamoDB's N without an exponent (the schema's form)."""
    number = value if isinstance(value, Decimal) else Decimal(repr(value))
    return format(number.normalize(), "f")


def _parse(name: str, text: str) -> datetime:
    """An RFC 3339 time whose every field exists, or GradeError."""
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    refused = GradeError(
        "invalidGrade", f"{name} '{text}' is not an RFC 3339 time such as 2026-11-28T09:30:00Z"
    )
    if match is None:
        raise refused
    year, month, day, hour, minute, second, fraction, utc, sign, zh, zm = match.groups()
    try:
        zone = timezone.utc if utc else timezone(
            (1 if sign == "+" else -1) * timedelta(hours=int(zh), minutes=int(zm))
        )
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        fields = (int(year), int(month), int(day), int(hour), int(minute), int(second))
        return datetime(*fields, micro, tzinfo=zone)
    except ValueError:
        raise refused from None


def _time(name: str, value: Optional[Time]) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise GradeError("invalidGrade", f"{name} must be a timezone-aware datetime")
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    _parse(name, value)
    return value


def _check_score(score_given: Any, score_maximum: Any) -> None:
    def finite(value: Any) -> bool:
        if isinstance(value, Decimal):
            return value.is_finite()
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    if score_given is not None and not (finite(score_given) and score_given >= 0):
        raise GradeError("invalidGrade", f"scoreGiven must be a number of at least 0, got {score_given}")
    if score_maximum is not None and not (finite(score_maximum) and score_maximum > 0):
        raise GradeError("invalidGrade", f"scoreMaximum must be a number above 0, got {score_maximum}")
    if score_given is not None and score_maximum is None:
        raise GradeError("invalidGrade", "scoreMaximum is required when scoreGiven is set")


def _check_progress(field: str, value: Optional[str], allowed: tuple) -> str:
    if value is None:
        return allowed[-1] if field == "activityProgress" else allowed[0]
    if value not in allowed:
        raise GradeError("invalidGrade", f"{field} '{value}' is not one of: {', '.join(allowed)}")
    return value


def grade_item(**grade: Any) -> Dict[str, Dict[str, str]]:
    """The grade's item in DynamoDB's attribute-value form.

    Takes ``platform_id``, ``context_id``, ``resource_link_id``, ``user_id``
    and the schema's optional fields in snake_case (``score_given``,
    ``score_maximum``, ``comment``, ``activity_progress``,
    ``grading_progress``, ``graded_at`` (default now), ``started_at``,
    ``submitted_at``; times as aware ``datetime`` or RFC 3339 strings).
    Raises :class:`GradeError` for what the sync would refuse.
    """
    for name in grade:
        if name not in _FIELDS:
            near = _closest(name)
            hint = f" (did you mean '{near}'?)" if near else ""
            raise GradeError("unknownAttribute", f"unknown attribute '{name}'{hint}")
    pk = activity_key(
        grade.get("platform_id"), grade.get("context_id"), grade.get("resource_link_id")
    )
    user_id = grade.get("user_id")
    if not isinstance(user_id, str) or not user_id.strip():
        raise GradeError("invalidGrade", "userId is missing or empty")
    score_given, score_maximum = grade.get("score_given"), grade.get("score_maximum")
    _check_score(score_given, score_maximum)
    activity = _check_progress("activityProgress", grade.get("activity_progress"), ACTIVITY_PROGRESS)
    grading = _check_progress("gradingProgress", grade.get("grading_progress"), GRADING_PROGRESS)
    graded_at = _time("gradedAt", grade.get("graded_at") or datetime.now(timezone.utc))
    started_at = _time("startedAt", grade.get("started_at"))
    submitted_at = _time("submittedAt", grade.get("submitted_at"))
    if started_at and submitted_at and _parse("startedAt", started_at) > _parse("submittedAt", submitted_at):
        raise GradeError("invalidGrade", "startedAt must not be later than submittedAt")
    item: Dict[str, Dict[str, str]] = {
        "pk": {"S": pk},
        "sk": {"S": f"GRADE#{_enc(user_id)}"},
        "pending": {"S": pk},
        "schemaVersion": {"N": "1"},
        "userId": {"S": user_id},
    }
    if score_given is not None:
        item["scoreGiven"] = {"N": _number(score_given)}
    if score_maximum is not None:
        item["scoreMaximum"] = {"N": _number(score_maximum)}
    if grade.get("comment") is not None:
        item["comment"] = {"S": grade["comment"]}
    item["activityProgress"] = {"S": activity}
    item["gradingProgress"] = {"S": grading}
    item["gradedAt"] = {"S": graded_at}
    if started_at:
        item["startedAt"] = {"S": started_at}
    if submitted_at:
        item["submittedAt"] = {"S": submitted_at}
    return item


def record_grade(client: Any, table_name: str, **grade: Any) -> None:
    """Records the grade with one PutItem on a ``boto3.client("dynamodb")``."""
    client.put_item(TableName=table_name, Item=grade_item(**grade))
