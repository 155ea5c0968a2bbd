import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { FakeBraze } from "../fakes/braze.ts";
import { FakePassKit } from "../fakes/passkit.ts";
import { serveFake } from "./serve.ts";

/** The PassKit and Braze fakes on loopback ports, as `npm start`, the e2e test and the benchmark use them. */
export interface LocalFakes {
  passkit: FakePassKit;
  braze: FakeBraze;
  passkitUrl: string;
  brazeUrl: string;
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
  return {
    passkit,
    braze,
    passkitUrl: `http://127.0.0.1:${portOf(passkitServer)}/v3`,
    brazeUrl: `http://127.0.0.1:${portOf(brazeServer)}`,
    close: async () => {
      await Promise.all([passkitServer, brazeServer].map((server) => new Promise((resolve) => server.close(resolve))));
    },
  };
}

function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}
