import * as z from "zod";
import type { Env } from "../env.ts";
import { ProblemError } from "../http/problem.ts";
import { log } from "../log.ts";

const LOOPBACK = ["localhost", "127.0.0.1", "[::1]"];

/**
 * An upstream base URL: https (http only for loopback hosts, for local runs and tests), and no
 * query, fragment or credentials, which would mangle every path appended to it. `hosts`, when
 * given, lists the domains the secret sent there may go to.
 */
const upstreamUrl = (hosts?: readonly string[]) =>
  z.url().refine(
    (value) => {
      // zod 4 still runs this refinement after z.url() has failed: `new URL()` would throw and
      // turn a bad URL into an unhandled 500 instead of a config_error naming the variable.
      if (!URL.canParse(value)) return false;
      const url = new URL(value);
      if (url.search || url.hash || value.includes("#") || url.username || url.password) return false;
      if (url.protocol === "http:") return LOOPBACK.includes(url.hostname);
      if (url.protocol !== "https:") return false;
      return !hosts || hosts.some((domain) => url.hostname.endsWith(`.${domain}`));
    },
    {
      message: hosts
        ? `must be an https:// URL on ${hosts.join(" or ")} without query or fragment (http:// only for loopback hosts)`
        : "must be an https:// URL without query, fragment or credentials (http:// only for loopback hosts)",
    },
  );

// Coerced: an unquoted number in wrangler.toml's [vars] arrives as a JSON number, not a string.
const intFrom = (min: number, max: number, fallback: number) =>
  z.coerce
    .string()
    .trim()
    .regex(/^\d+$/, { message: "must be a whole number" })
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .default(fallback);

/** A secret may be unset: the routes that need it answer `config_error` naming it (contract §1). */
const secret = z
  .string({ error: "must be a string" })
  .trim()
  .optional()
  .transform((value) => value || undefined);

export interface Credential {
  username: string;
  /** The whole `user:password` line: what a Basic header decodes to. */
  line: string;
}

/** One `user:password` per line; the password may contain `:`; blank lines are ignored. */
const credentials = secret.transform((text, ctx): Credential[] | undefined => {
  if (text === undefined) return undefined;
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
  const parsed: Credential[] = [];
  for (const [index, line] of lines.entries()) {
    const colon = line.indexOf(":");
    if (colon < 1 || colon === line.length - 1) {
      ctx.addIssue({ code: "custom", message: `line ${index + 1} is not user:password` });
      return z.NEVER;
    }
    parsed.push({ username: line.slice(0, colon), line });
  }
  return parsed;
});

export const configSchema = z.object({
  PASSKIT_API_URL: upstreamUrl()
    .default("https://api-pass.passkit.net/v3")
    .transform((u) => u.replace(/\/+$/, "")),
  PASSKIT_PASS_URL_TEMPLATE: z
    .string()
    .default("https://q.passkit.net/~/#/p/{passId}")
    // The URL Braze puts in messages: https only, so a typo cannot ship javascript: or http links.
    .refine(
      (t) =>
        t.includes("{passId}") && URL.canParse(t.replace("{passId}", "x")) && new URL(t.replace("{passId}", "x")).protocol === "https:",
      {
        message: "must be an https:// URL containing {passId}",
      },
    ),
  // Braze's REST hosts are all under braze.com or braze.eu (docs/upstreams.md): a typo cannot send the
  // Bearer key anywhere else.
  BRAZE_REST_ENDPOINT: upstreamUrl(["braze.com", "braze.eu"])
    .default("https://rest.iad-01.braze.com")
    .transform((u) => u.replace(/\/+$/, "")),
  BRAZE_MAX_OBJECTS_PER_REQUEST: intFrom(1, 75, 75),
  BRAZE_EVENT_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{0,64}$/, { message: "must be up to 64 letters, digits, '_', '.' or '-'" })
    .default("passkit_pass_"),
  PASS_CACHE_TTL_SECONDS: intFrom(60, 31_536_000, 3600),
  MAX_BODY_BYTES: intFrom(1024, 10_485_760, 65_536),
  /** Not in the contract's list: how long a webhook's PassKit call may take before a 504. */
  PASSKIT_TIMEOUT_MS: intFrom(100, 60_000, 10_000),
  PROXY_CREDENTIALS: credentials,
  WEBHOOK_CREDENTIALS: credentials,
  OPERATOR_CREDENTIALS: credentials,
  /** How long dead letters are kept before they expire (counted and logged, contract §9). */
  DEAD_LETTER_RETENTION_DAYS: intFrom(1, 3650, 30),
  PASSKIT_API_KEY: secret,
  PASSKIT_API_SECRET: secret,
  PASSKIT_WEBHOOK_SECRET: secret,
  BRAZE_API_KEY: secret,
  // PassKit's current platform (contract §7).
  PASSKIT_REGION: z.enum(["pub1", "pub2"], { error: "must be pub1 (EU) or pub2 (USA)" }).default("pub1"),
  PASSKIT_REST_URL: upstreamUrl(["passkit.io"]).optional(),
  PASSKIT_PASS_BASE_URL: z
    .string()
    .refine((value) => URL.canParse(value) && new URL(value).protocol === "https:" && !new URL(value).search && !new URL(value).hash, {
      message: "must be an https:// URL without query or fragment",
    })
    .optional(),
  PASSKIT_REST_KEY: secret,
  PASSKIT_REST_SECRET: secret,
  PASSKIT_REST_TOKEN: secret,
});

type ParsedConfig = z.output<typeof configSchema>;

/** The parsed config, with the current platform's hosts resolved from PASSKIT_REGION. */
export type Config = Omit<ParsedConfig, "PASSKIT_REST_URL" | "PASSKIT_PASS_BASE_URL"> & {
  PASSKIT_REST_URL: string;
  PASSKIT_PASS_BASE_URL: string;
};

function resolveRegion(parsed: ParsedConfig): Config {
  const region = parsed.PASSKIT_REGION;
  return {
    ...parsed,
    PASSKIT_REST_URL: (parsed.PASSKIT_REST_URL ?? `https://api.${region}.passkit.io`).replace(/\/+$/, ""),
    PASSKIT_PASS_BASE_URL: (parsed.PASSKIT_PASS_BASE_URL ?? `https://${region}.pskt.io`).replace(/\/+$/, ""),
  };
}

const loggedGaps = new WeakMap<Config, Set<string>>();

/**
 * Throws `config_error` naming the variables in `names` that are unset, for a route that needs
 * them; `alternatives` are other sets that would do as well (e.g. a token instead of key and secret).
 */
export function requireSecrets(
  config: Config,
  names: readonly (keyof Config)[],
  alternatives: readonly (readonly (keyof Config)[])[] = [],
): void {
  const sets = [names, ...alternatives];
  if (sets.some((set) => set.every((name) => config[name] !== undefined))) return;
  const missing = sets.map((set) => set.filter((name) => config[name] === undefined).join(" and ")).join(", or ");
  // One line per config and gap, not one per request (or per /health probe).
  const logged = loggedGaps.get(config) ?? new Set<string>();
  if (!logged.has(missing)) {
    loggedGaps.set(config, logged.add(missing));
    log("error", "config_error", { reason: `missing ${missing}` });
  }
  throw new ProblemError({
    status: 500,
    code: "config_error",
    title: "Proxy misconfigured",
    detail: `This route needs ${missing}, which ${sets.length > 1 || names.length > 1 ? "are" : "is"} not set.`,
    errors: sets
      .flat()
      .filter((name) => config[name] === undefined)
      .map((name) => ({ pointer: `/${name}`, detail: `${name} is missing` })),
  });
}

const parsed = new WeakMap<Env, Config | ProblemError>();

/**
 * The config of this env, parsed once per env object. A missing or malformed value fails closed:
 * a 500 `config_error` that names the variables, never their values.
 */
export function loadConfig(env: Env): Config {
  let result = parsed.get(env);
  if (!result) {
    result = parseConfig(env);
    parsed.set(env, result);
  }
  if (result instanceof ProblemError) throw result;
  return result;
}

function parseConfig(env: Env): Config | ProblemError {
  const result = configSchema.safeParse(blankToUndefined(env));
  if (result.success) return resolveRegion(result.data);
  const errors = result.error.issues.map((issue) => ({
    pointer: `/${issue.path.join("/")}`,
    detail: `${issue.path.join(".")} ${issue.message}`,
  }));
  log("error", "config_error", { reason: errors.map((e) => e.detail).join("; ") });
  return new ProblemError({
    status: 500,
    code: "config_error",
    title: "Proxy misconfigured",
    detail: `The proxy's configuration is invalid: ${errors.map((e) => e.detail).join("; ")}.`,
    errors,
  });
}

/** An empty var means "use the default", as if it were not set. */
function blankToUndefined(env: Env): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(configSchema.shape)) {
    const value = (env as unknown as Record<string, unknown>)[key];
    out[key] = value === "" ? undefined : value;
  }
  return out;
}
