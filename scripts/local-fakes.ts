import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { FakeBraze } from "../fakes/braze.ts";
import { seededRandom } from "../fakes/faults.ts";
import { FakePassKit } from "../fakes/passkit.ts";
import { FakePassKitPlatform, type PassStatus } from "../fakes/passkit-platform.ts";
import { signHs256 } from "../src/crypto.ts";
import { platformAuthorization, tokenWindow } from "../src/passkit/platform/inferred.ts";
import { passKitAuthorization } from "../src/passkit/v3/inferred.ts";
import { signPassKitToken } from "../src/passkit/v3/token.ts";
import { serveFake } from "./serve.ts";

/** Programs (→ tier ids) and coupon campaigns (→ offer ids) the platform fake knows, as made in PassKit's portal. */
export type PlatformCatalog = Parameters<FakePassKitPlatform["seed"]>[0];

/**
 * The PassKit v3, PassKit current-platform and Braze fakes on loopback ports, as `npm start`, the
 * e2e tests, the load run and the benchmark use them.
 */
export interface LocalFakes {
  passkit: FakePassKit;
  /** PassKit's current platform: members (`/members/...`) and coupons (`/coupon/...`). */
  platform: FakePassKitPlatform;
  braze: FakeBraze;
  /** PASSKIT_API_URL for the v3 fake (with its `/v3` base path). */
  passkitUrl: string;
  /** PASSKIT_REST_URL for the platform fake (its paths start at `/members/...`, `/coupon/...`). */
  platformUrl: string;
  brazeUrl: string;
  /** The `Authorization` header PassKit expects for this request, signed with the fake's key. */
  passkitAuthorization(method: string, url: string, body?: string): Promise<string>;
  /** A fresh bare JWT (uid, iat, exp) the platform fake accepts, as the proxy sends it. */
  platformAuthorization(): Promise<string>;
  /** Puts a pass straight into the PassKit fake (no HTTP), through its strict create path. */
  seedPass(pass: { templateName: string; campaignName: string; userDefinedId: string }): Promise<void>;
  /** Enrols a member straight into the platform fake (no HTTP), through its strict route; answers its id. */
  seedMember(member: { programId: string; tierId: string; externalId: string }): Promise<string>;
  /** Issues a coupon straight into the platform fake (no HTTP), through its strict route; answers its id. */
  seedCoupon(coupon: { campaignId: string; offerId: string; externalId: string }): Promise<string>;
  close(): Promise<void>;
}

export interface LocalFakesOptions {
  passkitKey: string;
  passkitSecret: string;
  brazeKey: string;
  /** The platform's REST API key (the JWT's `uid`) and secret. */
  platformKey: string;
  platformSecret: string;
  /** What the platform fake knows besides its records (default: none; a create then answers 404). */
  catalog?: PlatformCatalog;
  /** 0 picks a free port. */
  passkitPort?: number;
  brazePort?: number;
  platformPort?: number;
  /** For reproducible fault injection (one stream shared by the fakes). */
  random?: () => number;
  /** Instead of `random`: each fake draws from its own seeded stream, so its ids and faults do not
   * depend on what the others did (the same session gives the same ids after a restart). */
  seed?: number;
}

export async function startLocalFakes(options: LocalFakesOptions): Promise<LocalFakes> {
  const randomFor = (stream: number) => options.random ?? (options.seed === undefined ? Math.random : seededRandom(options.seed + stream));
  const passkit = new FakePassKit({ apiKey: options.passkitKey, apiSecret: options.passkitSecret, random: randomFor(0) });
  const braze = new FakeBraze({ apiKey: options.brazeKey, random: randomFor(1) });
  const platform = new FakePassKitPlatform({ apiKey: options.platformKey, apiSecret: options.platformSecret, random: randomFor(2) });
  const catalog = options.catalog ?? {};
  platform.seed(catalog);
  const servers: Server[] = [];
  const serve = async (...args: Parameters<typeof serveFake>) => {
    const server = await serveFake(...args);
    servers.push(server);
    return server;
  };
  try {
    const passkitServer = await serve(
      {
        handle: (request) => passkit.handle(request),
        inject: (fault) => passkit.inject(fault),
        reset: () => passkit.reset(),
        state: () => ({ passes: passkit.passCount(), calls: passkit.calls }),
      },
      options.passkitPort ?? 0,
    );
    const brazeServer = await serve(
      {
        handle: (request) => braze.handle(request),
        inject: (fault) => braze.inject(fault),
        reset: () => braze.reset(),
        state: () => ({ events: braze.events, requests: braze.requests }),
      },
      options.brazePort ?? 0,
    );
    const platformServer = await serve(
      {
        handle: (request) => platform.handle(request),
        inject: (fault) => platform.inject(fault),
        // The catalog stays: reset() forgets records, calls and faults only.
        reset: () => platform.reset(),
        state: () => ({ catalog, ...(platform.state() as object) }),
        control: (request, pathname) => (pathname === "/__fake/pass-status" ? passStatusRoute(platform, request) : undefined),
      },
      options.platformPort ?? 0,
    );
    const passkitUrl = `http://127.0.0.1:${portOf(passkitServer)}/v3`;
    const platformUrl = `http://127.0.0.1:${portOf(platformServer)}`;
    const passkitAuthorization = async (method: string, url: string, body = "") =>
      passKitAuthorization(await signPassKitToken({ key: options.passkitKey, secret: options.passkitSecret, method, url, body }));
    const platformJwt = async () =>
      platformAuthorization({
        jwt: await signHs256(options.platformSecret, { uid: options.platformKey, ...tokenWindow(Math.floor(Date.now() / 1000)) }),
      });
    /** A create through the platform fake's own route (strict checks included); its id. */
    const platformCreate = async (path: string, record: Record<string, string>, what: string): Promise<string> => {
      const headers = { Authorization: await platformJwt(), "Content-Type": "application/json" };
      const response = await platform.handle(
        new Request(`${platformUrl}${path}`, { method: "POST", headers, body: JSON.stringify(record) }),
      );
      const text = await response.text();
      if (!response.ok) throw new Error(`seeding ${what} failed: ${response.status} ${text}`);
      return (JSON.parse(text) as { id: string }).id;
    };
    return {
      passkit,
      platform,
      braze,
      passkitUrl,
      platformUrl,
      brazeUrl: `http://127.0.0.1:${portOf(brazeServer)}`,
      passkitAuthorization,
      platformAuthorization: platformJwt,
      seedPass: async (pass) => {
        const url = `${passkitUrl}/passes`;
        const body = JSON.stringify(pass);
        const headers = { Authorization: await passkitAuthorization("POST", url, body), "Content-Type": "application/json" };
        const response = await passkit.handle(new Request(url, { method: "POST", headers, body }));
        if (!response.ok)
          throw new Error(`seeding ${pass.campaignName}/${pass.userDefinedId} failed: ${response.status} ${await response.text()}`);
      },
      seedMember: (member) => platformCreate("/members/member", member, `member ${member.programId}/${member.externalId}`),
      seedCoupon: (coupon) => platformCreate("/coupon/singleUse/coupon", coupon, `coupon ${coupon.campaignId}/${coupon.externalId}`),
      close: () => closeAll(servers),
    };
  } catch (error) {
    // A busy port after the first fake is listening: the others must not keep the process alive.
    await closeAll(servers);
    throw error;
  }
}

const PASS_STATUSES: readonly PassStatus[] = ["PASS_ISSUED", "PASS_INSTALLED", "PASS_UNINSTALLED", "PASS_INVALIDATED"];
const PASS_STATUS_USAGE =
  'POST {"programId": "…", "externalId": "…", "status": "PASS_INSTALLED"} for a member, or {"campaignId": "…", "externalId": "…", "status": …} ' +
  `for a coupon; status is one of ${PASS_STATUSES.join(", ")} (or issued, installed, uninstalled, invalidated)`;

/**
 * `POST /__fake/pass-status`: what a wallet does to a member's or coupon's pass (installs it,
 * removes it), so the proxy's lookup shows `installed` once PassKit's webhook tells it to look
 * again. Real PassKit changes the status itself; it is the fake's control surface, not its API.
 */
async function passStatusRoute(platform: FakePassKitPlatform, request: Request): Promise<Response> {
  if (request.method !== "POST") return Response.json({ error: PASS_STATUS_USAGE }, { status: 405, headers: { Allow: "POST" } });
  let body: Record<string, unknown>;
  try {
    body = (await request.json()) as Record<string, unknown>;
    if (typeof body !== "object" || body === null) throw new Error("not an object");
  } catch {
    return Response.json({ error: PASS_STATUS_USAGE }, { status: 400 });
  }
  const given = typeof body.status === "string" ? body.status.trim().toUpperCase() : "";
  const status = PASS_STATUSES.find((name) => name === given || name === `PASS_${given}`);
  const externalId = typeof body.externalId === "string" ? body.externalId : undefined;
  const kind = typeof body.programId === "string" ? "member" : typeof body.campaignId === "string" ? "coupon" : undefined;
  if (!status || !externalId || !kind) return Response.json({ error: PASS_STATUS_USAGE }, { status: 400 });
  const classId = String(kind === "member" ? body.programId : body.campaignId);
  const record = kind === "member" ? platform.findMember(classId, externalId) : platform.findCoupon(classId, externalId);
  if (!record) return Response.json({ error: `no ${kind} ${classId}/${externalId} in the fake` }, { status: 404 });
  const id = String(record.id);
  platform.setPassStatus(kind, id, status);
  return Response.json({ kind, id, externalId, status });
}

function closeAll(servers: Server[]): Promise<void> {
  return Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve)))).then(() => undefined);
}

function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}
