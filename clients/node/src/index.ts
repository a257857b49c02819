// ltisync-writer: record grades for ltisync from Node. One DynamoDB item per
// learner and activity, in the grade schema (version 1) of
// docs/writing-grades.md; what this refuses, the sync would fail with the
// same code (clients/vectors.json is the contract the Rust, Node and Python
// writers share).

import { DynamoDBClient, PutItemCommand, type AttributeValue } from "@aws-sdk/client-dynamodb";

/** The activity: the launch's platform, context and resource link ids. */
export interface ActivityIds {
  platformId: string;
  contextId: string;
  resourceLinkId: string;
}

/** A time: a `Date`, or an RFC 3339 string such as `2026-11-28T09:30:00Z`. */
export type Time = Date | string;

export type ActivityProgress = "Initialized" | "Started" | "InProgress" | "Submitted" | "Completed";
export type GradingProgress = "FullyGraded" | "Pending" | "PendingManual" | "Failed" | "NotReady";

/** One learner's grade in one activity, in the schema's names. */
export interface Grade extends ActivityIds {
  userId: string;
  /** At least 0; omit it to clear the score at the LMS. */
  scoreGiven?: number;
  /** Above 0; required with `scoreGiven`. */
  scoreMaximum?: number;
  comment?: string;
  /** Default `Completed`. */
  activityProgress?: ActivityProgress;
  /** Default `FullyGraded` (Moodle keeps no score otherwise). */
  gradingProgress?: GradingProgress;
  /** When the tool graded it; default now. */
  gradedAt?: Time;
  startedAt?: Time;
  /** When the learner submitted: sent so Canvas does not mark it late. */
  submittedAt?: Time;
}

/** A grade the schema refuses; `code` is the one the sync would store. */
export class GradeError extends Error {
  readonly code: "invalidGrade" | "unknownAttribute";

  constructor(code: GradeError["code"], message: string) {
    super(message);
    this.name = "GradeError";
    this.code = code;
  }
}

const FIELDS = [
  "platformId", "contextId", "resourceLinkId", "userId", "scoreGiven", "scoreMaximum", "comment",
  "activityProgress", "gradingProgress", "gradedAt", "startedAt", "submittedAt",
] as const;
const ACTIVITY_PROGRESS = ["Initialized", "Started", "InProgress", "Submitted", "Completed"];
const GRADING_PROGRESS = ["FullyGraded", "Pending", "PendingManual", "Failed", "NotReady"];
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/** Whether `text` is an RFC 3339 time whose every field exists (no February 30, no hour 24). */
function isRfc3339(text: string): boolean {
  const m = RFC3339.exec(text);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const [zoneHours, zoneMinutes] = [Number(m[8] ?? 0), Number(m[9] ?? 0)];
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  return month >= 1 && month <= 12 && day >= 1 && day <= (days ?? 0)
    && hour <= 23 && minute <= 59 && second <= 59 && zoneHours <= 23 && zoneMinutes <= 59;
}

/** A number as DynamoDB's N without an exponent (the schema's form). */
function decimal(name: string, n: number): string {
  const text = String(n);
  if (!/e/i.test(text)) return text;
  const fixed = Math.abs(n) < 1e21 ? n.toFixed(20).replace(/0+$/, "").replace(/\.$/, "") : "";
  if (fixed === "" || Number(fixed) === 0) {
    throw new GradeError("invalidGrade", `${name} ${n} is out of range`);
  }
  return fixed;
}

/** The schema's encoding of one id: every UTF-8 byte outside A-Z a-z 0-9 - _ . ~ as %XX. */
function enc(id: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(id)) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-_.~]/.test(c) ? c : "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** The activity's partition key, `ACT#enc(platform)#enc(context)#enc(link)`. */
export function activityKey({ platformId, contextId, resourceLinkId }: ActivityIds): string {
  for (const [name, id] of Object.entries({ platformId, contextId, resourceLinkId })) {
    if (typeof id !== "string" || id === "") {
      throw new GradeError("invalidGrade", `${name} must be a non-empty string`);
    }
  }
  return `ACT#${enc(platformId)}#${enc(contextId)}#${enc(resourceLinkId)}`;
}

function closest(name: string): string | undefined {
  const fold = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, "");
  return FIELDS.find((field) => fold(field) === fold(name));
}

function checkFields(grade: object): void {
  for (const name of Object.keys(grade)) {
    if (!(FIELDS as readonly string[]).includes(name)) {
      const near = closest(name);
      const hint = near ? ` (did you mean '${near}'?)` : "";
      throw new GradeError("unknownAttribute", `unknown attribute '${name}'${hint}`);
    }
  }
}

function time(name: string, value: Time | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Date) {
    const year = value.getUTCFullYear();
    if (Number.isNaN(value.getTime()) || year < 0 || year > 9999) {
      throw new GradeError("invalidGrade", `${name} is an invalid Date`);
    }
    return value.toISOString();
  }
  if (typeof value !== "string" || !isRfc3339(value)) {
    throw new GradeError("invalidGrade", `${name} '${value}' is not an RFC 3339 time such as 2026-11-28T09:30:00Z`);
  }
  return value;
}

function checkScore(grade: Grade): void {
  const { scoreGiven, scoreMaximum } = grade;
  if (scoreGiven !== undefined && !(Number.isFinite(scoreGiven) && scoreGiven >= 0)) {
    throw new GradeError("invalidGrade", `scoreGiven must be a number of at least 0, got ${scoreGiven}`);
  }
  if (scoreMaximum !== undefined && !(Number.isFinite(scoreMaximum) && scoreMaximum > 0)) {
    throw new GradeError("invalidGrade", `scoreMaximum must be a number above 0, got ${scoreMaximum}`);
  }
  if (scoreGiven !== undefined && scoreMaximum === undefined) {
    throw new GradeError("invalidGrade", "scoreMaximum is required when scoreGiven is set");
  }
}

function checkProgress(grade: Grade): void {
  const check = (field: string, value: string | undefined, allowed: string[]) => {
    if (value !== undefined && !allowed.includes(value)) {
      throw new GradeError("invalidGrade", `${field} '${value}' is not one of: ${allowed.join(", ")}`);
    }
  };
  check("activityProgress", grade.activityProgress, ACTIVITY_PROGRESS);
  check("gradingProgress", grade.gradingProgress, GRADING_PROGRESS);
}

/** The grade's item in DynamoDB's attribute-value form; throws `GradeError` for what the sync would refuse. */
export function gradeItem(grade: Grade): Record<string, AttributeValue> {
  checkFields(grade);
  const pk = activityKey(grade);
  if (typeof grade.userId !== "string" || grade.userId.trim() === "") {
    throw new GradeError("invalidGrade", "userId is missing or empty");
  }
  checkScore(grade);
  checkProgress(grade);
  const gradedAt = time("gradedAt", grade.gradedAt ?? new Date());
  const startedAt = time("startedAt", grade.startedAt);
  const submittedAt = time("submittedAt", grade.submittedAt);
  if (startedAt && submittedAt && Date.parse(startedAt) > Date.parse(submittedAt)) {
    throw new GradeError("invalidGrade", "startedAt must not be later than submittedAt");
  }
  const item: Record<string, AttributeValue> = {
    pk: { S: pk },
    sk: { S: `GRADE#${enc(grade.userId)}` },
    pending: { S: pk },
    schemaVersion: { N: "1" },
    userId: { S: grade.userId },
  };
  if (grade.scoreGiven !== undefined) item.scoreGiven = { N: decimal("scoreGiven", grade.scoreGiven) };
  if (grade.scoreMaximum !== undefined) item.scoreMaximum = { N: decimal("scoreMaximum", grade.scoreMaximum) };
  if (grade.comment !== undefined) item.comment = { S: grade.comment };
  item.activityProgress = { S: grade.activityProgress ?? "Completed" };
  item.gradingProgress = { S: grade.gradingProgress ?? "FullyGraded" };
  item.gradedAt = { S: gradedAt as string };
  if (startedAt) item.startedAt = { S: startedAt };
  if (submittedAt) item.submittedAt = { S: submittedAt };
  return item;
}

/** Records the grade with one PutItem (replacing the learner's previous grade in the activity). */
export async function recordGrade(client: DynamoDBClient, tableName: string, grade: Grade): Promise<void> {
  const item = gradeItem(grade);
  await client.send(new PutItemCommand({ TableName: tableName, Item: item }));
}
