import { describe, expect, it } from "vitest";
import { percentile, round } from "./stats.ts";

const sorted = (...values: number[]) => Float64Array.from(values).sort();

describe("percentile (nearest rank)", () => {
  it("is NaN without values, never a 0 ms that looks like a fast answer", () => {
    expect(percentile(sorted(), 50)).toBeNaN();
    expect(percentile(sorted(), 99)).toBeNaN();
  });

  it("is the one value of a single sample, at any q", () => {
    for (const q of [0, 1, 50, 99, 100]) expect(percentile(sorted(7), q)).toBe(7);
  });

  it("takes the value at rank ceil(q/100 × n), no interpolation", () => {
    const values = sorted(...Array.from({ length: 100 }, (_, i) => i + 1));
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile(values, 0)).toBe(1);
    expect(percentile(sorted(1, 2, 3, 4), 50)).toBe(2);
    expect(percentile(sorted(1, 2, 3), 50)).toBe(2);
  });
});

describe("round", () => {
  it("keeps the given number of decimals", () => {
    expect(round(1.25, 1)).toBe(1.3);
    expect(round(2.346, 2)).toBe(2.35);
    expect(round(1234.5, 0)).toBe(1235);
  });
});
