// The writer against the contract every writer shares (clients/vectors.json).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { activityKey, gradeItem, GradeError } from "../dist/index.js";

const vectors = JSON.parse(readFileSync(new URL("../../vectors.json", import.meta.url), "utf8"));

for (const vector of vectors.valid) {
  test(`writes ${vector.name}`, () => {
    assert.equal(activityKey(vector.grade), vector.pk);
    assert.deepEqual(gradeItem(vector.grade), vector.item);
  });
}

for (const vector of vectors.invalid) {
  test(`refuses ${vector.name} with ${vector.code}`, () => {
    assert.throws(() => gradeItem(vector.grade), (error) => {
      assert.ok(error instanceof GradeError, String(error));
      assert.equal(error.code, vector.code);
      return true;
    });
  });
}

test("a misspelled attribute names the one it was meant to be", () => {
  const grade = { ...vectors.valid[0].grade, score_given: 9 };
  delete grade.scoreGiven;
  assert.throws(() => gradeItem(grade), /unknown attribute 'score_given' \(did you mean 'scoreGiven'\?\)/);
});

test("gradedAt defaults to now, and Dates become RFC 3339", () => {
  const { gradedAt, ...grade } = vectors.valid[0].grade;
  const before = Date.now();
  const item = gradeItem({ ...grade, submittedAt: new Date("2026-11-27T22:05:00Z") });
  assert.ok(Date.parse(item.gradedAt.S) >= before - 1000);
  assert.equal(item.submittedAt.S, "2026-11-27T22:05:00.000Z");
  assert.ok(gradedAt);
});
