import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isAnswerHeader, ResponseHeaderCheck } from "../src/index.js";

// The client checks answer headers by hand (answer-header.ts) so that it need not load the
// TypeBox compiler; the hand check must accept exactly what the compiled schema accepts.
describe("the hand-written answer header check", () => {
  const anyValue = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.double(), fc.string(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.array(fc.integer(), { maxLength: 2 }));
  const header = fc.record(
    {
      id: anyValue,
      ok: fc.oneof(fc.boolean(), anyValue),
      result: anyValue,
      error: fc.oneof(anyValue, fc.record({ code: anyValue, message: anyValue }, { requiredKeys: [] })),
      extra: anyValue,
    },
    { requiredKeys: [] },
  );

  it("agrees with the compiled ResponseHeader schema on arbitrary objects", () => {
    fc.assert(
      fc.property(fc.oneof(header, anyValue), (h) => {
        expect(isAnswerHeader(h)).toBe(ResponseHeaderCheck.Check(h));
      }),
      { numRuns: 5000 },
    );
  });

  it("accepts the two answer shapes and refuses near misses", () => {
    expect(isAnswerHeader({ id: 1, ok: true })).toBe(true);
    expect(isAnswerHeader({ id: 0, ok: true, result: { wid: 3 } })).toBe(true);
    expect(isAnswerHeader({ id: 2, ok: false, error: { code: "ERR_X", message: "m" } })).toBe(true);
    expect(isAnswerHeader({ id: 2, ok: false })).toBe(false);
    expect(isAnswerHeader({ id: -1, ok: true })).toBe(false);
    expect(isAnswerHeader({ id: 1.5, ok: true })).toBe(false);
    expect(isAnswerHeader({ id: 1, ok: "true" })).toBe(false);
    expect(isAnswerHeader([1])).toBe(false);
  });
});
