import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readJson, type JsonReadResult, type JsonSyntaxError, type JsonValue } from "../src/http/json-reader.ts";

/** The value read, or a failed expectation that shows the reader's error. */
function readValue(text: string): JsonValue {
  const result = readJson(text);
  if (!result.ok) expect.fail(`expected ${JSON.stringify(text)} to be read, got: ${result.error.message}`);
  return result.value;
}

/** The error reported, or a failed expectation that shows what was read instead. */
function errorOf(text: string, maxDepth?: number): JsonSyntaxError {
  const result = readJson(text, maxDepth);
  if (result.ok) expect.fail(`expected ${JSON.stringify(text)} to be refused, got: ${JSON.stringify(result.value)}`);
  return result.error;
}

/** JSON text with a trailing comma after the last member of every non-empty object and array. */
function withTrailingCommas(value: unknown): string {
  if (Array.isArray(value)) return value.length ? `[${value.map((item) => `${withTrailingCommas(item)},`).join("")}]` : "[]";
  if (value !== null && typeof value === "object") {
    const members = Object.entries(value).map(([key, item]) => `${JSON.stringify(key)}:${withTrailingCommas(item)},`);
    return members.length ? `{${members.join("\n")}\n}` : "{}";
  }
  return JSON.stringify(value);
}

/**
 * A shape that compares by content only: entries in order, negative zero kept apart. (Comparing
 * the objects themselves would also compare their `constructor` property, which may be a key.)
 */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return { array: value.map(canonical) };
  if (value !== null && typeof value === "object") {
    return { object: Object.entries(value).map(([key, item]) => [key, canonical(item)]) };
  }
  if (Object.is(value, -0)) return { negativeZero: true };
  return value;
}

/** Fails unless the reader reads `text` to exactly what JSON.parse makes of `expected`. */
function expectSameAsJsonParse(text: string, expected = text): void {
  expect(canonical(readValue(text))).toStrictEqual(canonical(JSON.parse(expected)));
}

function nested(depth: number, open = "[", close = "]", inner = "1"): string {
  return open.repeat(depth) + inner + close.repeat(depth);
}

function nestedObjects(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
}

describe("valid JSON reads exactly as JSON.parse reads it", () => {
  const samples = [
    "{}",
    "[]",
    '{"campaignName":"summer","points":120,"tags":["a","b"],"meta":{"vip":true,"note":null}}',
    '"just a string"',
    "0",
    "-0",
    "123",
    "-1.5e-3",
    "1E+2",
    "6.02e23",
    "true",
    "false",
    "null",
    ' \t\r\n{ "a" : [ 1 , 2 ] } \r\n\t ',
    '"\\"\\\\\\/\\b\\f\\n\\r\\t"',
    '"caf\\u00e9 \\u00E9"',
    '"\\ud83d\\ude00 \\uD83D\\uDE00"',
    '"\\ud800"',
    '"é 😀 中文 \u007f"',
    '{"":"empty key"}',
    '{"constructor":1,"toString":2,"hasOwnProperty":3}',
  ];
  it.each(samples)("reads %s like JSON.parse", (text) => {
    expectSameAsJsonParse(text);
  });

  it("keeps negative zero negative, as JSON.parse does", () => {
    expect(Object.is(readValue("-0"), -0)).toBe(true);
    expect(Object.is(readValue("-0.0e5"), -0)).toBe(true);
  });

  it("joins a \\u escaped surrogate pair into one emoji", () => {
    expect(readValue('"\\uD83C\\uDF89"')).toBe("🎉");
    expect([...(readValue('"\\uD83C\\uDF89"') as string)]).toHaveLength(1);
  });

  it("reads a few hundred generated documents exactly as JSON.parse does, compact or indented", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.constantFrom(undefined, 1, 2, "\t"), (value, indent) => {
        expectSameAsJsonParse(JSON.stringify(value, null, indent));
      }),
      { numRuns: 300 },
    );
  });

  it("reads any string, including lone surrogates and control characters, back from its JSON form", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), (text) => {
        expect(readValue(JSON.stringify({ [text]: text }))).toStrictEqual({ [text]: text });
      }),
      { numRuns: 200 },
    );
  });
});

describe("trailing commas, the one repair", () => {
  it("accepts a trailing comma in an object", () => {
    expect(readValue('{"a":1,}')).toEqual({ a: 1 });
  });

  it("accepts a trailing comma in an array", () => {
    expect(readValue("[1,2,]")).toEqual([1, 2]);
  });

  it("accepts a trailing comma followed by whitespace and line breaks, as Braze's PassKit template renders it", () => {
    const body = '{\n  "campaignName": "summer",\n  "dynamicData": {\n    "firstName": "Ada",\n  },\n  "tags": ["x", ],\n}\n';
    expect(readValue(body)).toEqual({ campaignName: "summer", dynamicData: { firstName: "Ada" }, tags: ["x"] });
  });

  it("reads generated documents with a trailing comma in every container as their plain JSON", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => {
        expectSameAsJsonParse(withTrailingCommas(value), JSON.stringify(value));
      }),
      { numRuns: 200 },
    );
  });

  it.each([
    ["[,]", 1, 2],
    ["{,}", 1, 2],
    ["[1,,2]", 1, 4],
    ["[1,,]", 1, 4],
    ['{"a":1,,}', 1, 8],
    ["[,1]", 1, 2],
    ['{,"a":1}', 1, 2],
    ["[\n  1,\n  ,\n]", 3, 3],
  ])("refuses the misplaced comma in %s at line %i, column %i", (text, line, column) => {
    const error = errorOf(text);
    expect(error).toMatchObject({ kind: "syntax", line, column });
    expect(error.message).toContain("Unexpected ','");
  });
});

describe("anything else that is not JSON is an error naming line and column", () => {
  it("names the line and column of a mistake on a later line", () => {
    const error = errorOf('{\n  "a": 1,\n  "b": tru\n}');
    expect(error).toMatchObject({ kind: "syntax", line: 3, column: 8, pointer: "/b" });
    expect(error.message).toMatch(/at line 3, column 8$/);
  });

  it("counts a CRLF line ending as one line break", () => {
    expect(errorOf('{\r\n  "a": x\r\n}')).toMatchObject({ line: 2, column: 8 });
  });

  it("points at the opening quote of a string that never ends", () => {
    const error = errorOf('{"a": "never closed}');
    expect(error).toMatchObject({ kind: "syntax", line: 1, column: 7 });
    expect(error.message).toContain("Unterminated string");
  });

  it("says the body is empty when it is empty or only whitespace", () => {
    for (const text of ["", "  \n\t "]) {
      const error = errorOf(text);
      expect(error.kind).toBe("syntax");
      expect(error.message).toContain("Body is empty");
    }
  });

  it("says the body ends early when it is cut off", () => {
    expect(errorOf('{"a":')).toMatchObject({ kind: "syntax", line: 1, column: 6, pointer: "/a" });
    expect(errorOf('{"a":').message).toContain("Body ends early; expected a value");
    expect(errorOf('{"a":1').message).toContain("Body ends early; expected ',' or '}'");
    expect(errorOf("[1").message).toContain("Body ends early; expected ',' or ']'");
  });

  it("refuses a missing comma between members", () => {
    expect(errorOf('{"a":1 "b":2}')).toMatchObject({ kind: "syntax", line: 1, column: 8 });
  });

  it("refuses anything after the document", () => {
    expect(errorOf("{} x")).toMatchObject({ kind: "syntax", line: 1, column: 4 });
    expect(errorOf('{"a":1}\n{"b":2}')).toMatchObject({ line: 2, column: 1 });
    expect(errorOf("{}}").message).toContain("expected end of body");
  });

  it.each([
    ["single-quoted strings", "{'a':1}"],
    ["unquoted keys", "{a:1}"],
    ["line comments", '{"a":1 // note\n}'],
    ["block comments", '{"a":/* note */1}'],
    ["undefined", '{"a":undefined}'],
    ["a truncated literal", '{"a":tru}'],
    ["a capitalised literal", '{"a":True}'],
    ["a literal glued to a word", "[nullx]"],
    ["a missing colon", '{"a" 1}'],
    ["a missing value", '{"a":}'],
    ["a key that is not a string", "{1:2}"],
  ])("refuses %s", (_, text) => {
    expect(errorOf(text).kind).toBe("syntax");
    expect(() => JSON.parse(text)).toThrow();
  });

  it("shows an invisible control character by its code point", () => {
    expect(errorOf('{"a":1}\u0000').message).toContain("Unexpected U+0000");
    expect(errorOf('{"a":\u007f}').message).toContain("Unexpected U+007F");
  });

  it("shows an emoji in the message whole, not as half a surrogate pair", () => {
    expect(errorOf('{"a":😀}').message).toContain("Unexpected '😀'");
  });

  it("always answers with a line and column inside the text and never throws, whatever the text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 60 }), (text) => {
        const result = readJson(text);
        if (result.ok) return;
        const { line, column } = result.error;
        const lines = text.replace(/^\uFEFF/, "").split("\n");
        expect(line).toBeGreaterThanOrEqual(1);
        expect(line).toBeLessThanOrEqual(lines.length);
        expect(column).toBeGreaterThanOrEqual(1);
        expect(column).toBeLessThanOrEqual(lines[line - 1]!.length + 1);
      }),
      { numRuns: 300 },
    );
  });

  it("agrees with JSON.parse on random JSON-like text that has no trailing comma", () => {
    const tokens = ["{", "}", "[", "]", ",", ":", '"a"', '"b"', '"', "1", "0", "-", ".", "e", "true", "null", " ", "\n", "\\", "u"];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...tokens), { maxLength: 14 }), (parts) => {
        const text = parts.join("");
        fc.pre(!/,\s*[\]}]/.test(text));
        let parsed: { ok: true; value: unknown } | { ok: false };
        try {
          parsed = { ok: true, value: JSON.parse(text) };
        } catch {
          parsed = { ok: false };
        }
        const result: JsonReadResult = readJson(text);
        if (!parsed.ok) expect(result.ok, text).toBe(false);
        else if (result.ok) expect(canonical(result.value)).toStrictEqual(canonical(parsed.value));
        else expect(result.error.kind, text).toBe("duplicate_key");
      }),
      { numRuns: 500 },
    );
  });
});

describe("a UTF-8 byte-order mark", () => {
  it("is ignored at the start of the body", () => {
    expect(readValue('\uFEFF{"a":1}')).toEqual({ a: 1 });
  });

  it("does not shift the column of a later error", () => {
    expect(errorOf("\uFEFF{x}")).toMatchObject({ line: 1, column: 2 });
  });

  it("is an error anywhere but the start", () => {
    expect(errorOf('{"a":\uFEFF1}')).toMatchObject({ kind: "syntax", line: 1, column: 6 });
    expect(errorOf("\uFEFF\uFEFF{}")).toMatchObject({ kind: "syntax", line: 1, column: 1 });
  });
});

describe("numbers follow RFC 8259", () => {
  it.each([
    "0",
    "-0",
    "7",
    "-12",
    "10",
    "1.5",
    "1.50",
    "0.25",
    "0.1",
    "1e5",
    "1E5",
    "1e+5",
    "1e-5",
    "-0.5e-10",
    "1e30",
    "9007199254740992",
    "-9007199254740991",
  ])("reads %s as JSON.parse does", (text) => {
    expectSameAsJsonParse(`[${text}]`);
  });

  it.each([
    ["an integer past 2^53", "9007199254740993"],
    ["a 30-digit integer", "123456789012345678901234567890"],
    ["an overflow to Infinity", "1e400"],
    ["an underflow to 0", "1e-400"],
    ["more digits than a double holds", "0.10000000000000000555"],
  ])("refuses %s (%s) rather than forward another value, naming where it is", (_what, text) => {
    expect(errorOf(`{"dynamicData":{"points":${text}}}`)).toMatchObject({
      kind: "inexact_number",
      pointer: "/dynamicData/points",
      line: 1,
      column: 26,
    });
  });

  it.each([
    ["a leading zero", "01"],
    ["a negative leading zero", "-01"],
    ["a double zero", "00"],
    ["a plus sign", "+1"],
    ["a bare fraction", ".5"],
    ["a trailing dot", "1."],
    ["a dot before the exponent", "1.e5"],
    ["a lone minus", "-"],
    ["a double minus", "--1"],
    ["an empty exponent", "1e"],
    ["a signed empty exponent", "1e+"],
    ["two dots", "1.5.5"],
    ["NaN", "NaN"],
    ["Infinity", "Infinity"],
    ["-Infinity", "-Infinity"],
    ["hexadecimal", "0x10"],
    ["a unit suffix", "5px"],
  ])("refuses %s (%s)", (_, text) => {
    const error = errorOf(`{"n": ${text}}`);
    expect(error).toMatchObject({ kind: "syntax", line: 1, pointer: "/n" });
    expect(() => JSON.parse(`{"n": ${text}}`)).toThrow();
  });

  it("refuses digit separators", () => {
    expect(errorOf('{"n": 1_000}')).toMatchObject({ kind: "syntax", line: 1, column: 8 });
  });

  it("refuses an unquoted date, pointing at the field and the dash", () => {
    expect(errorOf('{"passbook": {"relevantDate": 2019-09-29}}')).toMatchObject({
      kind: "syntax",
      line: 1,
      column: 35,
      pointer: "/passbook/relevantDate",
    });
  });
});

describe("strings", () => {
  it("refuses a raw line break inside a string, pointing at the break", () => {
    const error = errorOf('{"name": "Ada\nLovelace"}');
    expect(error).toMatchObject({ kind: "syntax", line: 1, column: 14, pointer: "/name" });
    expect(error.message).toContain("A raw line break inside a string");
  });

  it("refuses a raw carriage return inside a string", () => {
    expect(errorOf('["a\rb"]').message).toContain("A raw line break inside a string");
  });

  it.each([
    ["a tab", "\t"],
    ["NUL", "\u0000"],
    ["unit separator U+001F", "\u001f"],
  ])("refuses a raw control character (%s) inside a string", (_, char) => {
    const error = errorOf(`["a${char}b"]`);
    expect(error).toMatchObject({ kind: "syntax", column: 4 });
    expect(error.message).toContain("A control character inside a string");
  });

  it("accepts DEL and other non-control characters raw, as RFC 8259 does", () => {
    expect(readValue('["\u007f\u0080\u2028"]')).toEqual(["\u007f\u0080\u2028"]);
  });

  it.each([
    ["an unknown escape", '["\\x41"]'],
    ["an escaped single quote", '["\\\'"]'],
    ["a short \\u escape", '["\\u12"]'],
    ["a \\u escape with a non-hex digit", '["\\u12G4"]'],
    ["an escaped raw newline", '["\\\n"]'],
    ["a backslash at the very end", '["\\'],
  ])("refuses %s", (_, text) => {
    expect(errorOf(text)).toMatchObject({ kind: "syntax", line: 1, column: 3 });
  });

  it("decodes \\u escapes in keys before comparing them", () => {
    expect(readValue('{"\\u0061b":1}')).toEqual({ ab: 1 });
  });
});

describe("duplicate keys are refused", () => {
  it("names the duplicate key with a JSON pointer and the position of its second occurrence", () => {
    const error = errorOf('{"a": 1,\n "a": 2}');
    expect(error).toMatchObject({ kind: "duplicate_key", pointer: "/a", line: 2, column: 2 });
    expect(error.message).toContain('Duplicate key "a"');
  });

  it("finds a duplicate deep inside the body", () => {
    const error = errorOf('{"passbook":{"locations":[{"lat":1},{"lat":1,"lat":2}]}}');
    expect(error).toMatchObject({ kind: "duplicate_key", pointer: "/passbook/locations/1/lat" });
  });

  it("treats a key written with a \\u escape as the same key", () => {
    expect(errorOf('{"a":1,"\\u0061":2}')).toMatchObject({ kind: "duplicate_key", pointer: "/a" });
  });

  it("escapes / and ~ in the pointer", () => {
    expect(errorOf('{"a/b~c":1,"a/b~c":2}').pointer).toBe("/a~1b~0c");
  });

  it("allows the same key in sibling objects", () => {
    expect(readValue('[{"a":1},{"a":2}]')).toEqual([{ a: 1 }, { a: 2 }]);
  });

  it("keys differing only in case are different keys", () => {
    expect(readValue('{"userDefinedId":1,"userDefinedID":2}')).toEqual({ userDefinedId: 1, userDefinedID: 2 });
  });

  it("shortens a very long duplicate key in the message", () => {
    const key = "k".repeat(5000);
    const error = errorOf(`{"${key}":1,"${key}":2}`);
    expect(error.kind).toBe("duplicate_key");
    expect(error.message.length).toBeLessThan(200);
    expect(error.pointer.length).toBeLessThan(200);
  });
});

describe("nesting deeper than 16 is refused", () => {
  it("reads 16 nested arrays", () => {
    expect(readJson(nested(16)).ok).toBe(true);
  });

  it("refuses 17 nested arrays, pointing at the 17th", () => {
    const error = errorOf(nested(17));
    expect(error).toMatchObject({ kind: "too_deep", line: 1, column: 17, pointer: "/0".repeat(16) });
    expect(error.message).toContain("Nesting deeper than 16 levels");
  });

  it("reads 16 nested objects and refuses 17", () => {
    expect(readJson(nestedObjects(16)).ok).toBe(true);
    expect(errorOf(nestedObjects(17))).toMatchObject({ kind: "too_deep", pointer: "/a".repeat(16) });
  });

  it("counts arrays and objects together", () => {
    expect(readJson(nested(8, '[{"a":', "}]")).ok).toBe(true);
    expect(errorOf(`[${nested(8, '[{"a":', "}]")}]`).kind).toBe("too_deep");
  });

  it("counts empty containers as a level too", () => {
    expect(readJson(nested(16, "[", "]", "")).ok).toBe(true);
    expect(errorOf(nested(16, "[", "]", "[]")).kind).toBe("too_deep");
  });

  it("refuses an absurdly deep body quickly instead of overflowing the stack", () => {
    const started = performance.now();
    expect(errorOf("[".repeat(200_000)).kind).toBe("too_deep");
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("honours a smaller limit when asked", () => {
    expect(readJson("[[1]]", 2).ok).toBe(true);
    expect(errorOf("[[[1]]]", 2).kind).toBe("too_deep");
  });
});

describe("__proto__ keys stay plain data", () => {
  it("keeps a __proto__ key as an own property and leaves the prototype alone", () => {
    const value = readValue('{"__proto__": {"polluted": true}, "a": 1}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(["__proto__", "a"]);
    expect(Object.getOwnPropertyDescriptor(value, "__proto__")?.value).toEqual({ polluted: true });
    expect(value.polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("reads __proto__ nested and in arrays as JSON.parse does", () => {
    const text = '[{"x":{"__proto__":null,"constructor":{"prototype":{"y":1}}}}]';
    expectSameAsJsonParse(text);
    const value = readValue(text) as [{ x: object }];
    expect(Object.getPrototypeOf(value[0].x)).toBe(Object.prototype);
  });

  it("refuses a duplicated __proto__ key like any other", () => {
    expect(errorOf('{"__proto__":{},"__proto__":{}}')).toMatchObject({ kind: "duplicate_key", pointer: "/__proto__" });
  });
});

describe("the hint for Liquid that Braze did not render", () => {
  const hint = "this looks like Liquid that Braze did not render";

  it("is given for an unrendered {{ output }} tag", () => {
    const error = errorOf('{\n  "points": {{custom_attribute.${points}}}\n}');
    expect(error).toMatchObject({ kind: "syntax", line: 2, column: 14, pointer: "/points" });
    expect(error.message).toContain(hint);
  });

  it("is given for an unrendered {{ }} tag inside an array", () => {
    expect(errorOf('{"tags": [{{ tags }}]}').message).toContain(hint);
  });

  it("is given for an unrendered {% %} tag", () => {
    expect(errorOf('{% if ${first_name} %}{"a":1}{% endif %}').message).toContain(hint);
    expect(errorOf('{"a": 1 {%- endif -%}}').message).toContain(hint);
  });

  it("is given for a whole body that is one unrendered tag", () => {
    expect(errorOf("{{content_blocks.${pass_body}}}").message).toContain(hint);
  });

  it("is not given for an ordinary mistake", () => {
    expect(errorOf('{"a": tru}').message).not.toContain(hint);
    expect(errorOf('{"a": 1 "b": 2}').message).not.toContain(hint);
  });

  it("is not needed when the Liquid is inside a string, which is valid JSON", () => {
    expect(readValue('{"name": "{{${first_name}}}"}')).toEqual({ name: "{{${first_name}}}" });
  });
});
