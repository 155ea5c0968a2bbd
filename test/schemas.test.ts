import { describe, expect, it } from "vitest";
import { readJson } from "../src/http/json-reader.ts";
import { ProblemError, type FieldError, type ProblemInit } from "../src/http/problem.ts";
import { closest, validateBody } from "../src/http/validate.ts";
import { createPassSchema, knownFieldsAt, updatePassSchema, type CreatePass, type UpdatePass } from "../src/passes/schemas.ts";

const required = { campaignName: "summer-loyalty", templateName: "gold-member", userDefinedId: "user-123" };

const validateCreate = (value: unknown): CreatePass => validateBody(createPassSchema, value, knownFieldsAt);
const validateUpdate = (value: unknown): UpdatePass => validateBody(updatePassSchema, value, knownFieldsAt);

/** The 422 problem the validation throws, or a failed expectation if it passes. */
function problemOf(validate: () => unknown): ProblemInit {
  try {
    validate();
  } catch (error) {
    if (error instanceof ProblemError) return error.problem;
    throw error;
  }
  return expect.fail("expected the body to fail validation");
}

/** The field errors of a create body that must fail. */
function createErrors(value: unknown): FieldError[] {
  const problem = problemOf(() => validateCreate(value));
  expect(problem).toMatchObject({ status: 422, code: "validation_failed" });
  return problem.errors ?? [];
}

/** A body as the JSON reader gives it to the schema (so `__proto__` is an own key). */
function read(text: string): unknown {
  const result = readJson(text);
  if (!result.ok) expect.fail(result.error.message);
  return result.value;
}

describe("a create body", () => {
  it("passes with only campaignName, templateName and userDefinedId", () => {
    expect(validateCreate(required)).toEqual(required);
  });

  it("passes with every documented field filled in", () => {
    const body = {
      ...required,
      dynamicData: { firstName: "Ada", points: 120, vip: true, nickname: null },
      dynamicImages: { logo: "https://cdn.example/logo.png" },
      recoveryEmail: "ada@example.com",
      isVoided: false,
      isRedeemed: "false",
      isInvalid: "true",
      expiryDate: "2030-12-31T23:59:59+01:00",
      passbook: {
        relevantDate: "2019-09-29T12:59:40Z",
        groupId: "summer",
        bgColor: "#1a2B3c",
        labelColor: "rgb(26, 43, 60)",
        fgColor: "rgb(0,0,0)",
        locations: [{ lat: 51.5, lon: -0.12, alt: 11, relevantText: "Near the store" }],
        beacons: [{ uuid: "f7826da6-4fa2-4e98-8024-bc5b71e0893e", major: 1, minor: 65_535, relevantText: "Welcome" }],
      },
    };
    expect(validateCreate(body)).toEqual({ ...body, isRedeemed: false, isInvalid: true });
  });

  it.each(["campaignName", "templateName", "userDefinedId"])("says %s is required when it is missing", (field) => {
    const body: Record<string, string> = { ...required };
    delete body[field];
    expect(createErrors(body)).toEqual([{ pointer: `/${field}`, detail: "is required" }]);
  });

  it("lists every missing required field at once, and the detail names each", () => {
    const problem = problemOf(() => validateCreate({}));
    expect(problem.errors?.map((error) => error.pointer).sort()).toEqual(["/campaignName", "/templateName", "/userDefinedId"]);
    expect(problem.detail).toContain("/campaignName: is required");
    expect(problem.detail).toContain("/userDefinedId: is required");
  });

  it("says a required field that is null must be a string, not that it is missing", () => {
    expect(createErrors({ ...required, userDefinedId: null })).toEqual([{ pointer: "/userDefinedId", detail: "must be a string" }]);
  });

  it.each([
    ["an array", []],
    ["null", null],
    ["a string", "campaignName=summer"],
    ["a number", 42],
  ])("refuses a body that is %s, saying it must be a JSON object", (_, body) => {
    expect(createErrors(body)).toEqual([{ pointer: "", detail: "must be a JSON object" }]);
  });

  it("refuses a passbook that is not an object", () => {
    expect(createErrors({ ...required, passbook: ["x"] })).toEqual([{ pointer: "/passbook", detail: "must be a JSON object" }]);
  });
});

describe("booleans", () => {
  it('turns the strings Liquid renders, "true" and "false", into booleans', () => {
    const pass = validateCreate({ ...required, isVoided: "true", isRedeemed: "false", isInvalid: true });
    expect(pass).toMatchObject({ isVoided: true, isRedeemed: false, isInvalid: true });
    expect(typeof pass.isVoided).toBe("boolean");
    expect(typeof pass.isRedeemed).toBe("boolean");
  });

  it("leaves an absent boolean absent rather than false", () => {
    expect(validateCreate(required)).not.toHaveProperty("isVoided");
  });

  it.each([["yes"], ["TRUE"], ["True"], [" true"], ["1"], [1], [0], [null], [""]])("refuses %j as a boolean", (value) => {
    expect(createErrors({ ...required, isVoided: value })).toEqual([
      { pointer: "/isVoided", detail: 'must be true or false (or the strings "true"/"false")' },
    ]);
  });
});

describe("dates", () => {
  it.each([
    "2019-09-29T12:59:40Z",
    "2019-09-29T12:59:40+02:00",
    "2019-09-29T12:59:40-05:30",
    "2019-09-29T12:59:40.123Z",
    "2024-02-29T00:00:00Z",
    "2000-02-29T00:00:00Z",
    "2019-12-31T23:59:59+14:00",
  ])("accepts %s", (date) => {
    expect(validateCreate({ ...required, expiryDate: date, passbook: { relevantDate: date } })).toMatchObject({
      expiryDate: date,
      passbook: { relevantDate: date },
    });
  });

  it("refuses 2019-29-09T12:59:40Z (day and month swapped), naming /passbook/relevantDate", () => {
    const errors = createErrors({ ...required, passbook: { relevantDate: "2019-29-09T12:59:40Z" } });
    expect(errors).toHaveLength(1);
    expect(errors[0]!.pointer).toBe("/passbook/relevantDate");
    expect(errors[0]!.detail).toContain("real calendar date");
  });

  it.each([
    ["29 February in a year that is not a leap year", "2023-02-29T12:00:00Z"],
    ["29 February 1900, not a leap year", "1900-02-29T12:00:00Z"],
    ["31 April", "2019-04-31T12:00:00Z"],
    ["day 0", "2019-04-00T12:00:00Z"],
    ["month 13", "2019-13-01T12:00:00Z"],
    ["hour 24", "2019-09-29T24:00:00Z"],
    ["minute 60", "2019-09-29T12:60:00Z"],
    ["no offset", "2019-09-29T12:59:40"],
    ["a date with no time", "2024-02-29"],
    ["an offset without a colon", "2019-09-29T12:59:40+0200"],
    ["a space instead of T", "2019-09-29 12:59:40Z"],
    ["no seconds", "2019-09-29T12:59Z"],
    ["an offset beyond 23 hours", "2019-09-29T12:59:40+24:00"],
    ["a Unix timestamp in a string", "1569761980"],
    ["unrendered Liquid", "{{${date}}}"],
  ])("refuses %s (%s)", (_, date) => {
    expect(createErrors({ ...required, expiryDate: date }).map((error) => error.pointer)).toEqual(["/expiryDate"]);
    expect(createErrors({ ...required, passbook: { relevantDate: date } }).map((error) => error.pointer)).toEqual([
      "/passbook/relevantDate",
    ]);
  });

  it("refuses a date given as a number", () => {
    expect(createErrors({ ...required, expiryDate: 1_569_761_980 }).map((error) => error.pointer)).toEqual(["/expiryDate"]);
  });
});

describe("unknown keys", () => {
  it("suggests userDefinedId for userDefinedID", () => {
    expect(createErrors({ ...required, userDefinedID: "user-123" })).toEqual([
      { pointer: "/userDefinedID", detail: "unknown field (did you mean userDefinedId?)" },
    ]);
  });

  it.each([
    ["campaign_name", "campaignName"],
    ["templatename", "templateName"],
    ["dynamicdata", "dynamicData"],
    ["recoverEmail", "recoveryEmail"],
    ["isVoid", "isVoided"],
    ["expiresDate", "expiryDate"],
    ["passBook", "passbook"],
  ])("suggests the known field for %s", (key, suggestion) => {
    expect(createErrors({ ...required, [key]: "x" })).toContainEqual({
      pointer: `/${key}`,
      detail: `unknown field (did you mean ${suggestion}?)`,
    });
  });

  it("gives no hint when no known field is close", () => {
    expect(createErrors({ ...required, favouriteColour: "blue" })).toEqual([{ pointer: "/favouriteColour", detail: "unknown field" }]);
  });

  it("suggests relevantDate for passbook.relevantdate, with the nested pointer", () => {
    expect(createErrors({ ...required, passbook: { relevantdate: "2019-09-29T12:59:40Z" } })).toEqual([
      { pointer: "/passbook/relevantdate", detail: "unknown field (did you mean relevantDate?)" },
    ]);
  });

  it("suggests the fields of a location inside a location, and of a beacon inside a beacon", () => {
    const errors = createErrors({
      ...required,
      passbook: {
        locations: [
          { lat: 1, lon: 2 },
          { lat: 1, lon: 2, relevanttext: "hi" },
        ],
        beacons: [{ UUID: "x" }],
      },
    });
    expect(errors).toContainEqual({ pointer: "/passbook/locations/1/relevanttext", detail: "unknown field (did you mean relevantText?)" });
    expect(errors).toContainEqual({ pointer: "/passbook/beacons/0/UUID", detail: "unknown field (did you mean uuid?)" });
    expect(errors).toContainEqual({ pointer: "/passbook/beacons/0/uuid", detail: "is required" });
  });

  it("does not suggest a top-level field for a key inside the passbook", () => {
    expect(createErrors({ ...required, passbook: { userDefinedID: "x" } })).toEqual([
      { pointer: "/passbook/userDefinedID", detail: "unknown field" },
    ]);
  });

  it("refuses a __proto__ key with a pointer instead of dropping it, and leaves prototypes alone", () => {
    const body = read('{"campaignName":"c","templateName":"t","userDefinedId":"u","__proto__":{"isVoided":true}}');
    expect(createErrors(body)).toEqual([{ pointer: "/__proto__", detail: "the key __proto__ cannot be forwarded safely; rename it" }]);
    expect(({} as Record<string, unknown>).isVoided).toBeUndefined();
  });

  it("refuses a dynamicData key named __proto__ rather than silently losing it (contract §8.6)", () => {
    const body = read('{"campaignName":"c","templateName":"t","userDefinedId":"u","dynamicData":{"__proto__":null,"a":1}}');
    expect(createErrors(body)).toEqual([
      { pointer: "/dynamicData/__proto__", detail: "the key __proto__ cannot be forwarded safely; rename it" },
    ]);
  });

  it("forwards a dynamicData key named constructor as data", () => {
    const pass = validateCreate(
      read('{"campaignName":"c","templateName":"t","userDefinedId":"u","dynamicData":{"constructor":"x","a":1}}'),
    );
    expect(JSON.parse(JSON.stringify(pass.dynamicData))).toEqual({ constructor: "x", a: 1 });
  });

  it("escapes / and ~ in the pointer of an unknown key", () => {
    expect(createErrors({ ...required, "a/b~c": 1 })).toEqual([{ pointer: "/a~1b~0c", detail: "unknown field" }]);
  });

  it("shortens a very long key in its pointer", () => {
    const errors = createErrors({ ...required, ["k".repeat(5000)]: 1 });
    expect(errors).toEqual([{ pointer: `/${"k".repeat(128)}…`, detail: "unknown field" }]);
  });
});

describe("pointers", () => {
  it("point into the list of locations", () => {
    const errors = createErrors({
      ...required,
      passbook: {
        locations: [
          { lat: 1, lon: 2 },
          { lat: 91, lon: "east" },
        ],
      },
    });
    expect(errors).toEqual([
      { pointer: "/passbook/locations/1/lat", detail: "must be a number from -90 to 90" },
      { pointer: "/passbook/locations/1/lon", detail: "must be a number from -180 to 180" },
    ]);
  });

  it("say a latitude of 91 is out of range rather than not a number", () => {
    const [error] = createErrors({ ...required, passbook: { locations: [{ lat: 91, lon: 0 }] } });
    expect(error).toEqual({ pointer: "/passbook/locations/0/lat", detail: expect.stringContaining("-90 to 90") });
  });

  it("say a beacon major of 70000 is out of range", () => {
    const [error] = createErrors({ ...required, passbook: { beacons: [{ uuid: "f7826da6-4fa2-4e98-8024-bc5b71e0893e", major: 70_000 }] } });
    expect(error).toEqual({ pointer: "/passbook/beacons/0/major", detail: expect.stringContaining("0 to 65535") });
  });

  it("point at a dynamicData value that is not a scalar", () => {
    expect(createErrors({ ...required, dynamicData: { points: 1, address: { city: "Paris" } } })).toEqual([
      { pointer: "/dynamicData/address", detail: "must be a string, number, boolean or null" },
    ]);
  });

  it("refuse a non-finite number, should one reach the schema from anywhere but the reader", () => {
    expect(createErrors({ ...required, dynamicData: { points: Number.POSITIVE_INFINITY } })).toEqual([
      { pointer: "/dynamicData/points", detail: "must be a string, number, boolean or null" },
    ]);
  });

  it("point at a bad colour, e-mail and beacon UUID", () => {
    const errors = createErrors({
      ...required,
      recoveryEmail: "not-an-email",
      passbook: { bgColor: "red", beacons: [{ uuid: "not-a-uuid" }] },
    });
    expect(errors.map((error) => error.pointer)).toEqual(["/recoveryEmail", "/passbook/bgColor", "/passbook/beacons/0/uuid"]);
  });

  it("refuse more than 10 locations at the list itself", () => {
    const locations = Array.from({ length: 11 }, () => ({ lat: 0, lon: 0 }));
    expect(createErrors({ ...required, passbook: { locations } })).toEqual([
      { pointer: "/passbook/locations", detail: "must have at most 10 entries" },
    ]);
    expect(validateCreate({ ...required, passbook: { locations: locations.slice(1) } }).passbook?.locations).toHaveLength(10);
  });
});

describe("identifiers", () => {
  it.each([
    ["a lone high surrogate", "user\ud800"],
    ["a lone low surrogate", "\udc00user"],
    ["a line break", "user\n123"],
    ["a NUL", "user\u0000"],
    ["a tab", "\tuser"],
    ["DEL", "user\u007f"],
  ])("refuses a userDefinedId with %s", (_, id) => {
    expect(createErrors({ ...required, userDefinedId: id }).map((error) => error.pointer)).toEqual(["/userDefinedId"]);
  });

  it("says which rule an identifier broke", () => {
    expect(createErrors({ ...required, userDefinedId: "a\ud800" })).toEqual([
      { pointer: "/userDefinedId", detail: "must be well-formed Unicode (no lone surrogates)" },
    ]);
    expect(createErrors({ ...required, campaignName: "a\u0001" })).toEqual([
      { pointer: "/campaignName", detail: "must not contain control characters" },
    ]);
    expect(createErrors({ ...required, templateName: "" })).toEqual([{ pointer: "/templateName", detail: "must not be empty" }]);
  });

  it("accepts 255 characters (Braze's property limit) and refuses 256", () => {
    expect(validateCreate({ ...required, userDefinedId: "u".repeat(255) }).userDefinedId).toHaveLength(255);
    expect(createErrors({ ...required, userDefinedId: "u".repeat(256) })).toEqual([
      { pointer: "/userDefinedId", detail: "must be at most 255 characters" },
    ]);
  });

  it("keeps an identifier exactly as sent: spaces, slashes, emoji and a surrogate pair", () => {
    const id = " user/123 😀 ";
    expect(validateCreate({ ...required, userDefinedId: id, campaignName: "été 2024" })).toMatchObject({
      userDefinedId: id,
      campaignName: "été 2024",
    });
  });

  it("accepts a surrogate pair written as \\u escapes", () => {
    expect(validateCreate(read('{"campaignName":"c","templateName":"t","userDefinedId":"\\ud83d\\ude00"}')).userDefinedId).toBe("😀");
  });
});

describe("the number of errors", () => {
  it("is capped at 20, and the detail lists only those", () => {
    const body: Record<string, unknown> = {};
    for (let i = 0; i < 50; i++) body[`extra${i}`] = i;
    const problem = problemOf(() => validateCreate(body));
    expect(problem.errors).toHaveLength(20);
    expect(problem.detail.split("; ")).toHaveLength(20);
  });

  it("stays small even with many very long unknown keys", () => {
    const body: Record<string, unknown> = {};
    for (let i = 0; i < 50; i++) body[`${i}`.padEnd(10_000, "x")] = i;
    const problem = problemOf(() => validateCreate(body));
    expect(JSON.stringify(problem).length).toBeLessThan(20 * 400);
  });
});

describe("an update body", () => {
  it("passes empty, since every field is optional", () => {
    expect(validateUpdate({})).toEqual({});
  });

  it('passes with a single field and turns "true" into true', () => {
    expect(validateUpdate({ isRedeemed: "true" })).toEqual({ isRedeemed: true });
  });

  it("keeps the identifier rules for the fields it is given", () => {
    expect(problemOf(() => validateUpdate({ templateName: "" })).errors).toEqual([
      { pointer: "/templateName", detail: "must not be empty" },
    ]);
    expect(problemOf(() => validateUpdate({ campaignName: "x\ud800" })).errors?.[0]?.pointer).toBe("/campaignName");
  });

  it("refuses unknown keys with a hint, at the top and inside the passbook", () => {
    const errors = problemOf(() => validateUpdate({ isvoided: true, passbook: { bgcolour: "#000000" } })).errors;
    expect(errors).toHaveLength(2);
    expect(errors).toContainEqual({ pointer: "/isvoided", detail: "unknown field (did you mean isVoided?)" });
    expect(errors).toContainEqual({ pointer: "/passbook/bgcolour", detail: "unknown field (did you mean bgColor?)" });
  });

  it("refuses an impossible date", () => {
    expect(problemOf(() => validateUpdate({ passbook: { relevantDate: "2023-02-29T12:00:00Z" } })).errors?.[0]?.pointer).toBe(
      "/passbook/relevantDate",
    );
  });
});

describe("closest", () => {
  const fields = ["campaignName", "templateName", "userDefinedId", "isVoided", "isRedeemed"];

  it("matches a key that differs only in case", () => {
    expect(closest("USERDEFINEDID", fields)).toBe("userDefinedId");
  });

  it("matches a key one or two edits away", () => {
    expect(closest("campaignNam", fields)).toBe("campaignName");
    expect(closest("isVoid", fields)).toBe("isVoided");
  });

  it("gives up at three edits", () => {
    expect(closest("isVxxxed", fields)).toBeUndefined();
    expect(closest("isVo", fields)).toBeUndefined();
    expect(closest("camp", fields)).toBeUndefined();
  });

  it("prefers the nearest of several candidates", () => {
    expect(closest("abcx", ["abyz", "abcd"])).toBe("abcd");
    expect(closest("abcx", ["abcd", "abyz"])).toBe("abcd");
  });

  it("prefers a case-only match over a nearer-looking earlier one", () => {
    expect(closest("LAT", ["alt", "lat"])).toBe("lat");
  });

  it("has nothing to suggest from an empty list", () => {
    expect(closest("userDefinedId", [])).toBeUndefined();
  });

  it("does not suggest a name that is much shorter or longer", () => {
    expect(closest("userDefinedIdentifier", fields)).toBeUndefined();
    expect(closest("u", fields)).toBeUndefined();
  });

  it("answers quickly for a very long key", () => {
    const started = performance.now();
    expect(closest("x".repeat(100_000), fields)).toBeUndefined();
    expect(closest("y".repeat(2000), ["y".repeat(2001)])).toBe("y".repeat(2001));
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
