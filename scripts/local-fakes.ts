import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { FakeBraze } from "../fakes/braze.ts";
import { FakePassKit } from "../fakes/passkit.ts";
import { passKitAuthorization } from "../src/passkit/v3/inferred.ts";
import { signPassKitToken } from "../src/passkit/v3/token.ts";
import { serveFake } from "./serve.ts";

/** The PassKit and Braze fakes on loopback ports, as `npm start`, the e2e tests, the load run and the benchmark use them. */
export interface LocalFakes {
  passkit: FakePassKit;
  braze: FakeBraze;
  passkitUrl: string;
  brazeUrl: string;
  /** The `Authorization` header PassKit expects for this request, signed with the fake's key. */
  passkitAuthorization(method: string, url: string, body?: string): Promise<string>;
  /** Puts a pass straight into the PassKit fake (no HTTP), through its strict create path. */
  seedPass(pass: { templateName: string; campaignName: string; userDefinedId: string }): Promise<void>;
  close(): Promise<void>;
}

export interface LocalFakesOptions {
  passkitKey: string;
  passkitSecret: string;
  brazeKey: string;
  /** 0 picks a free port. */
  passkitPort?: number;
  brazePort?: number;
  /** For reproducible fault injection. */
  random?: () => number;
}

export async function startLocalFakes(options: LocalFakesOptions): Promise<LocalFakes> {
  const random = options.random ?? Math.random;
  const passkit = new FakePassKit({ apiKey: options.passkitKey, apiSecret: options.passkitSecret, random });
  const braze = new FakeBraze({ apiKey: options.brazeKey, random });
  const passkitServer = await serveFake(
    {
      handle: (request) => passkit.handle(request),
      inject: (fault) => passkit.inject(fault),
      reset: () => passkit.reset(),
      state: () => ({ passes: passkit.passCount(), calls: passkit.calls }),
    },
    options.passkitPort ?? 0,
  );
  const brazeServer = await serveFake(
    {
      handle: (request) => braze.handle(request),
      inject: (fault) => braze.inject(fault),
      reset: () => braze.reset(),
      state: () => ({ events: braze.events, requests: braze.requests }),
    },
    options.brazePort ?? 0,
  );
  const passkitUrl = `http://127.0.0.1:${portOf(passkitServer)}/v3`;
  const passkitAuthorization = async (method: string, url: string, body = "") =>
    passKitAuthorization(await signPassKitToken({ key: options.passkitKey, secret: options.passkitSecret, method, url, body }));
  return {
    passkit,
    braze,
    passkitUrl,
    brazeUrl: `http://127.0.0.1:${portOf(brazeServer)}`,
    passkitAuthorization,
    seedPass: async (pass) => {
      const url = `${passkitUrl}/passes`;
      const body = JSON.stringify(pass);
      const headers = { Authorization: await passkitAuthorization("POST", url, body), "Content-Type": "application/json" };
      const response = await passkit.handle(new Request(url, { method: "POST", headers, body }));
      if (!response.ok) throw new Error(`seeding ${pass.campaignName}/${pass.userDefinedId} failed: ${response.status} ${await response.text()}`);
    },
    close: async () => {
      await Promise.all([passkitServer, brazeServer].map((server) => new Promise((resolve) => server.close(resolve))));
    },
  };
}

function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}
