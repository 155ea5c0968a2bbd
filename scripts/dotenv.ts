import { readFileSync } from "node:fs";

/** Reads a .dev.vars / .env file: KEY=value lines, optional double quotes with \n escapes. */
export function readDotenv(path: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of readFileSync(path, "utf8").split(/\r?\n/)) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match) continue;
    const [, key, raw] = match as unknown as [string, string, string];
    values[key] = raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1).replace(/\\n/g, "\n") : raw;
  }
  return values;
}
