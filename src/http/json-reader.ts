/**
 * The forgiving JSON reader of contract §3. Braze renders webhook bodies from Liquid, and its own
 * PassKit template leaves a trailing comma, so trailing commas in objects and arrays are accepted.
 * Nothing else is repaired: any other deviation from RFC 8259 is an error that names line and
 * column, because guessing at a broken body could create the wrong pass.
 * Duplicate keys and nesting deeper than `maxDepth` are refused (the first is ambiguous, the
 * second a resource attack), and so is a number JavaScript cannot hold exactly (contract §8.6):
 * forwarding it would silently send PassKit another value. Pure: no I/O, never throws.
 */

import { toPointer } from "./pointer.ts";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface JsonSyntaxError {
  kind: "syntax" | "duplicate_key" | "too_deep" | "inexact_number";
  message: string;
  line: number;
  column: number;
  /** JSON Pointer of the value being read when the error was found. */
  pointer: string;
}

export type JsonReadResult = { ok: true; value: JsonValue } | { ok: false; error: JsonSyntaxError };

const DEFAULT_MAX_DEPTH = 16;

class ReadError extends Error {
  readonly kind: JsonSyntaxError["kind"];
  readonly at: number;
  constructor(kind: JsonSyntaxError["kind"], message: string, at: number) {
    super(message);
    this.kind = kind;
    this.at = at;
  }
}

export function readJson(text: string, maxDepth = DEFAULT_MAX_DEPTH): JsonReadResult {
  const reader = new Reader(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, maxDepth);
  try {
    const value = reader.document();
    return { ok: true, value };
  } catch (error) {
    if (!(error instanceof ReadError)) throw error;
    const { line, column } = reader.position(error.at);
    return {
      ok: false,
      error: {
        kind: error.kind,
        message: `${error.message} at line ${line}, column ${column}`,
        line,
        column,
        pointer: reader.pointer(),
      },
    };
  }
}

const ESCAPES: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

class Reader {
  private at = 0;
  private depth = 0;
  private readonly path: string[] = [];

  private readonly text: string;
  private readonly maxDepth: number;

  constructor(text: string, maxDepth: number) {
    this.text = text;
    this.maxDepth = maxDepth;
  }

  document(): JsonValue {
    this.skipSpace();
    if (this.at >= this.text.length) throw new ReadError("syntax", "Body is empty; expected a JSON object", this.at);
    const value = this.value();
    this.skipSpace();
    if (this.at < this.text.length) throw this.unexpected("end of body");
    return value;
  }

  position(offset: number): { line: number; column: number } {
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < offset && i < this.text.length; i++) {
      if (this.text.charCodeAt(i) === 10) {
        line++;
        lineStart = i + 1;
      }
    }
    return { line, column: offset - lineStart + 1 };
  }

  pointer(): string {
    return toPointer(this.path);
  }

  private value(): JsonValue {
    const char = this.text[this.at];
    switch (char) {
      case "{":
        return this.object();
      case "[":
        return this.array();
      case '"':
        return this.string();
      case "t":
        return this.literal("true", true);
      case "f":
        return this.literal("false", false);
      case "n":
        return this.literal("null", null);
      default:
        if (char === "-" || (char !== undefined && char >= "0" && char <= "9")) return this.number();
        throw this.unexpected("a value");
    }
  }

  private object(): { [key: string]: JsonValue } {
    this.enter();
    const result: { [key: string]: JsonValue } = {};
    const seen = new Set<string>();
    this.at++;
    this.skipSpace();
    if (this.text[this.at] === "}") {
      this.at++;
      this.depth--;
      return result;
    }
    for (;;) {
      if (this.text[this.at] !== '"') throw this.unexpected("a property name in double quotes");
      const keyAt = this.at;
      const key = this.string();
      this.path.push(key);
      if (seen.has(key)) throw new ReadError("duplicate_key", `Duplicate key "${truncate(key)}"`, keyAt);
      seen.add(key);
      this.skipSpace();
      if (this.text[this.at] !== ":") throw this.unexpected("':' after the property name");
      this.at++;
      this.skipSpace();
      // defineProperty, not assignment: a "__proto__" key must stay data, not become a prototype.
      Object.defineProperty(result, key, { value: this.value(), enumerable: true, writable: true, configurable: true });
      this.path.pop();
      this.skipSpace();
      const next = this.text[this.at];
      if (next === "}") break;
      if (next !== ",") throw this.unexpected("',' or '}'");
      this.at++;
      this.skipSpace();
      if (this.text[this.at] === "}") break; // the one repair: a trailing comma
    }
    this.at++;
    this.depth--;
    return result;
  }

  private array(): JsonValue[] {
    this.enter();
    const result: JsonValue[] = [];
    this.at++;
    this.skipSpace();
    if (this.text[this.at] === "]") {
      this.at++;
      this.depth--;
      return result;
    }
    for (;;) {
      this.path.push(String(result.length));
      result.push(this.value());
      this.path.pop();
      this.skipSpace();
      const next = this.text[this.at];
      if (next === "]") break;
      if (next !== ",") throw this.unexpected("',' or ']'");
      this.at++;
      this.skipSpace();
      if (this.text[this.at] === "]") break; // the one repair: a trailing comma
    }
    this.at++;
    this.depth--;
    return result;
  }

  private enter(): void {
    if (++this.depth > this.maxDepth) {
      throw new ReadError("too_deep", `Nesting deeper than ${this.maxDepth} levels`, this.at);
    }
  }

  private string(): string {
    const start = this.at;
    this.at++;
    let out = "";
    let chunkStart = this.at;
    for (;;) {
      if (this.at >= this.text.length) throw new ReadError("syntax", "Unterminated string", start);
      const code = this.text.charCodeAt(this.at);
      if (code === 34) break;
      if (code < 0x20) {
        const what = code === 10 || code === 13 ? "A raw line break" : "A control character";
        throw new ReadError("syntax", `${what} inside a string (escape it, e.g. \\n)`, this.at);
      }
      if (code !== 92) {
        this.at++;
        continue;
      }
      out += this.text.slice(chunkStart, this.at);
      const escaped = this.text[this.at + 1];
      if (escaped === "u") {
        const hex = this.text.slice(this.at + 2, this.at + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new ReadError("syntax", "Invalid \\u escape", this.at);
        out += String.fromCharCode(parseInt(hex, 16));
        this.at += 6;
      } else if (escaped !== undefined && escaped in ESCAPES) {
        out += ESCAPES[escaped];
        this.at += 2;
      } else {
        throw new ReadError("syntax", "Invalid escape sequence in a string", this.at);
      }
      chunkStart = this.at;
    }
    out += this.text.slice(chunkStart, this.at);
    this.at++;
    return out;
  }

  private number(): number {
    NUMBER.lastIndex = this.at;
    const match = NUMBER.exec(this.text);
    if (!match) throw this.unexpected("a number");
    const start = this.at;
    this.at += match[0].length;
    const follower = this.text[this.at];
    if (follower !== undefined && /[0-9A-Za-z.+-]/.test(follower)) throw this.unexpected("',' or the end of the value");
    const value = Number(match[0]);
    if (normalizedDecimal(match[0]) !== normalizedDecimal(String(value))) {
      throw new ReadError(
        "inexact_number",
        `The number ${truncate(match[0], 40)} cannot be forwarded exactly (it would become ${value}); send it as a string`,
        start,
      );
    }
    return value;
  }

  private literal<T extends JsonValue>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.at)) throw this.unexpected("a value");
    this.at += word.length;
    return value;
  }

  private skipSpace(): void {
    for (;;) {
      const code = this.text.charCodeAt(this.at);
      if (code === 32 || code === 10 || code === 13 || code === 9) this.at++;
      else return;
    }
  }

  private unexpected(expected: string): ReadError {
    if (this.at >= this.text.length) return new ReadError("syntax", `Body ends early; expected ${expected}`, this.at);
    const found = this.text.codePointAt(this.at) ?? 0;
    const shown =
      found < 0x20 || found === 0x7f ? `U+${found.toString(16).padStart(4, "0").toUpperCase()}` : `'${String.fromCodePoint(found)}'`;
    const liquid = /\{\{|\{%|%\}|\}\}/.test(this.text.slice(Math.max(0, this.at - 1), this.at + 2));
    const hint = liquid ? " (this looks like Liquid that Braze did not render)" : "";
    return new ReadError("syntax", `Unexpected ${shown}; expected ${expected}${hint}`, this.at);
  }
}

/**
 * A decimal's value as `[-]digits e exponent` with no leading or trailing zeros, so "1.50",
 * "15e-1" and "1.5" compare equal and "9007199254740993" differs from the 9007199254740992 that
 * Number() makes of it. Infinity (an overflow) never equals a finite text.
 */
function normalizedDecimal(text: string): string {
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!match) return text;
  const [, sign, whole = "", fraction = "", exponent = "0"] = match;
  let digits = whole + fraction;
  const leading = /^0*/.exec(digits)![0].length;
  digits = digits.slice(leading).replace(/0+$/, "");
  if (!digits) return "0";
  return `${sign}${digits}e${Number(exponent) + whole.length - leading}`;
}

function truncate(text: string, max = 64): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
