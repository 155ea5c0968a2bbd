import { FaultPlan, json, sleep, type Fault } from "./faults.ts";
import { constantTimeEqual, decodeBase64url, hmacBase64url, sha256Hex } from "./jwt.ts";

/**
 * A strict fake of PassKit's v3 REST API (docs/upstreams.md): it verifies every request token (HS256
 * signature and each claim), keeps passes with `userDefinedId` unique per campaign, answers the
 * documented shapes, and can inject statuses, latency and malformed answers. The same fake serves
 * the tests (in the Workers runtime), `npm start` and the benchmark (in Node): Web APIs only.
 */

export interface FakePassKitOptions {
  apiKey: string;
  apiSecret: string;
  /** The path prefix of the API, as in PASSKIT_API_URL (default `/v3`). */
  basePath?: string;
  /** How far `iat` may be from the fake's clock, in seconds. */
  maxClockSkewSeconds?: number;
  random?: () => number;
}

export interface RecordedCall {
  method: string;
  url: string;
  body: string;
  /** `undefined` when the token was accepted, else why it was refused. */
  authError?: string;
  status: number;
}

interface StoredPass {
  id: string;
  templateName: string;
  campaignName: string;
  userDefinedId?: string;
  recoveryEmail?: string;
  expiryDate?: string | null;
  isVoided: boolean;
  isRedeemed: boolean;
  isInvalid: boolean;
  dynamicData: Record<string, unknown>;
  dynamicImages: Record<string, unknown>;
  passbook?: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

const PASS_FIELDS = new Set([
  "templateName",
  "campaignName",
  "userDefinedId",
  "recoveryEmail",
  "expiryDate",
  "isVoided",
  "isRedeemed",
  "isInvalid",
  "dynamicData",
  "dynamicImages",
  "dynamicBackfields",
  "passbook",
]);
const BOOLEAN_FIELDS = ["isVoided", "isRedeemed", "isInvalid"] as const;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

export class FakePassKit {
  readonly faults: FaultPlan;
  readonly calls: RecordedCall[] = [];
  private readonly passes = new Map<string, StoredPass>();
  private readonly byUser = new Map<string, string>();
  private readonly options: Required<Omit<FakePassKitOptions, "random">>;
  private readonly random: () => number;

  constructor(options: FakePassKitOptions) {
    this.options = { basePath: "/v3", maxClockSkewSeconds: 60, ...options };
    this.random = options.random ?? Math.random;
    this.faults = new FaultPlan(this.random);
  }

  /** Calls that reached the API with a valid token (what PassKit would bill and rate-limit). */
  apiCalls(method?: string): RecordedCall[] {
    return this.calls.filter((call) => call.authError === undefined && (!method || call.method === method));
  }

  passCount(): number {
    return this.passes.size;
  }

  findPass(campaignName: string, userDefinedId: string): Readonly<StoredPass> | undefined {
    const id = this.byUser.get(userKey(campaignName, userDefinedId));
    return id ? this.passes.get(id) : undefined;
  }

  inject(fault: Fault): void {
    this.faults.add(fault);
  }

  reset(): void {
    this.calls.length = 0;
    this.passes.clear();
    this.byUser.clear();
    this.faults.clear();
  }

  async handle(request: Request): Promise<Response> {
    const body = request.method === "GET" || request.method === "HEAD" ? "" : await request.text();
    const call: RecordedCall = { method: request.method, url: request.url, body, status: 0 };
    this.calls.push(call);
    const response = await this.answer(request, body, call);
    call.status = response.status;
    return response;
  }

  private async answer(request: Request, body: string, call: RecordedCall): Promise<Response> {
    const authError = await this.verifyToken(request, body);
    if (authError) {
      call.authError = authError;
      return json({ error: `unauthorized: ${authError}` }, 401);
    }
    const url = new URL(request.url);
    const fault = this.faults.take(request.method, url.pathname + url.search, body);
    if (fault?.latencyMs) await sleep(fault.latencyMs, request.signal);
    if (fault?.status)
      return new Response(fault.body ?? JSON.stringify({ error: `injected ${fault.status}` }), {
        status: fault.status,
        headers: { "Content-Type": "application/json", ...fault.headers },
      });
    if (fault?.malformed)
      return new Response(fault.body ?? "<html>Service Unavailable</html>", { status: 200, headers: { "Content-Type": "text/html" } });
    return this.route(request.method, url, body);
  }

  private route(method: string, url: URL, body: string): Response {
    const base = this.options.basePath;
    if (!url.pathname.startsWith(`${base}/passes`)) return json({ error: "not found" }, 404);
    const rest = url.pathname.slice(`${base}/passes`.length);
    if (rest === "") {
      if (method === "POST") return this.create(body);
      const target = this.byQuery(url);
      if (target instanceof Response) return target;
      if (method === "GET") return json(view(target));
      if (method === "PUT") return this.update(target, body);
      return json({ error: "method not allowed" }, 405);
    }
    const id = decodeURIComponent(rest.slice(1));
    const pass = this.passes.get(id);
    if (!pass) return json({ error: "pass not found" }, 404);
    if (method === "GET") return json(view(pass));
    if (method === "PUT") return this.update(pass, body);
    return json({ error: "method not allowed" }, 405);
  }

  private byQuery(url: URL): StoredPass | Response {
    const userDefinedId = url.searchParams.get("userDefinedId");
    const campaignName = url.searchParams.get("campaignName");
    if (!userDefinedId || !campaignName) return json({ error: "userDefinedId and campaignName are required" }, 400);
    const pass = this.findPass(campaignName, userDefinedId);
    return pass ?? json({ error: "pass not found" }, 404);
  }

  private create(body: string): Response {
    const fields = parseFields(body);
    if (fields instanceof Response) return fields;
    if (typeof fields.templateName !== "string" || !fields.templateName) return json({ error: "templateName is required" }, 400);
    if (typeof fields.campaignName !== "string" || !fields.campaignName) return json({ error: "campaignName is required" }, 400);
    const userDefinedId = typeof fields.userDefinedId === "string" ? fields.userDefinedId : undefined;
    if (userDefinedId !== undefined && this.byUser.has(userKey(fields.campaignName, userDefinedId))) {
      // The real answer to a duplicate is undocumented; a 400 is the hardest case for the proxy.
      return json({ error: "userDefinedId already exists in this campaign" }, 400);
    }
    const now = new Date().toISOString();
    const pass: StoredPass = {
      id: this.newId(),
      templateName: fields.templateName,
      campaignName: fields.campaignName,
      userDefinedId,
      isVoided: false,
      isRedeemed: false,
      isInvalid: false,
      dynamicData: {},
      dynamicImages: {},
      createdAt: now,
      updatedAt: now,
    };
    apply(pass, fields);
    this.passes.set(pass.id, pass);
    if (userDefinedId !== undefined) this.byUser.set(userKey(pass.campaignName, userDefinedId), pass.id);
    return json({ id: pass.id });
  }

  private update(pass: StoredPass, body: string): Response {
    const fields = parseFields(body);
    if (fields instanceof Response) return fields;
    if (fields.campaignName !== undefined && fields.campaignName !== pass.campaignName)
      return json({ error: "campaignName cannot change" }, 400);
    if (fields.userDefinedId !== undefined && fields.userDefinedId !== pass.userDefinedId)
      return json({ error: "userDefinedId cannot change" }, 400);
    if (pass.isInvalid && fields.isInvalid === false) return json({ error: "an invalidated pass cannot be made valid again" }, 400);
    apply(pass, fields);
    pass.updatedAt = new Date().toISOString();
    return json({ id: pass.id });
  }

  private newId(): string {
    let id = "";
    for (let i = 0; i < 22; i++) id += ID_ALPHABET[Math.floor(this.random() * ID_ALPHABET.length)];
    return this.passes.has(id) ? this.newId() : id;
  }

  /** The reason a request's token is refused, or undefined when every claim checks out. */
  private async verifyToken(request: Request, body: string): Promise<string | undefined> {
    const header = request.headers.get("Authorization");
    if (!header) return "missing Authorization";
    const match = /^PKAuth ([\w-]+)\.([\w-]+)\.([\w-]+)$/.exec(header);
    if (!match) return "Authorization is not PKAuth <jwt>";
    const [, head, payload, signature] = match as unknown as [string, string, string, string];
    const expected = await hmacBase64url(this.options.apiSecret, `${head}.${payload}`);
    if (!constantTimeEqual(expected, signature)) return "bad token signature";
    let jwtHeader: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      jwtHeader = JSON.parse(decodeBase64url(head));
      claims = JSON.parse(decodeBase64url(payload));
    } catch {
      return "token is not JSON";
    }
    if (jwtHeader.alg !== "HS256") return "alg must be HS256";
    if (claims.key !== this.options.apiKey) return "unknown key";
    if (typeof claims.iat !== "number" || Math.abs(Date.now() / 1000 - claims.iat) > this.options.maxClockSkewSeconds)
      return "iat missing or out of range";
    if (claims.url !== request.url) return "url claim does not match the request";
    if (claims.method !== request.method) return "method claim does not match the request";
    if (claims.signature !== (await sha256Hex(body))) return "signature claim does not match the body";
    return undefined;
  }
}

function userKey(campaignName: string, userDefinedId: string): string {
  return JSON.stringify([campaignName, userDefinedId]);
}

function parseFields(body: string): Record<string, unknown> | Response {
  let fields: unknown;
  try {
    fields = JSON.parse(body);
  } catch {
    return json({ error: "body is not JSON" }, 400);
  }
  if (!fields || typeof fields !== "object" || Array.isArray(fields)) return json({ error: "body must be an object" }, 400);
  const record = fields as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => !PASS_FIELDS.has(key));
  if (unknown.length > 0) return json({ error: `unknown fields: ${unknown.join(", ")}` }, 400);
  for (const field of BOOLEAN_FIELDS) {
    if (record[field] !== undefined && typeof record[field] !== "boolean") return json({ error: `${field} must be a boolean` }, 400);
  }
  for (const date of [record.expiryDate, (record.passbook as Record<string, unknown> | undefined)?.relevantDate]) {
    if (date !== undefined && date !== null && (typeof date !== "string" || !RFC3339.test(date) || Number.isNaN(Date.parse(date)))) {
      return json({ error: "dates must be RFC 3339" }, 400);
    }
  }
  return record;
}

function apply(pass: StoredPass, fields: Record<string, unknown>): void {
  for (const field of BOOLEAN_FIELDS) {
    if (typeof fields[field] === "boolean") pass[field] = fields[field] as boolean;
  }
  if (typeof fields.templateName === "string") pass.templateName = fields.templateName;
  if (typeof fields.recoveryEmail === "string") pass.recoveryEmail = fields.recoveryEmail;
  if (fields.expiryDate !== undefined) pass.expiryDate = fields.expiryDate as string | null;
  if (fields.dynamicData) pass.dynamicData = { ...pass.dynamicData, ...(fields.dynamicData as object) };
  if (fields.dynamicImages) pass.dynamicImages = { ...pass.dynamicImages, ...(fields.dynamicImages as object) };
  if (fields.passbook) pass.passbook = { ...pass.passbook, ...(fields.passbook as object) };
}

function view(pass: StoredPass): Record<string, unknown> {
  return { ...pass, expiryDate: pass.expiryDate ?? null, passbookDevices: [], androidPayDevices: [] };
}
