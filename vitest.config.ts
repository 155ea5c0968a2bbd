import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { TEST_SECRETS } from "./test/secrets.ts";

// Tests stay on loopback: Miniflare must not download Request.cf data from Cloudflare.
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";

export default defineConfig({
  test: {
    projects: [
      {
        // Unit and integration tests inside the Workers runtime.
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              // Loopback upstreams: if a test forgets to stub fetch, the call fails at once
              // instead of leaving the machine.
              bindings: {
                ...TEST_SECRETS,
                PASSKIT_API_URL: "http://127.0.0.1:9/v3",
                PASSKIT_REST_URL: "http://[::1]:9",
                BRAZE_REST_ENDPOINT: "http://localhost:9",
                PASSKIT_TIMEOUT_MS: "1000",
              },
            },
          }),
        ],
        // test/load is the Node load oracle that test/e2e/load.test.ts drives, not Workers tests.
        test: { name: "workers", include: ["test/**/*.test.ts"], exclude: ["test/e2e/**", "test/load/**"], testTimeout: 20_000 },
      },
      {
        // The proxy under `wrangler dev`, driven from Node, against the fakes on loopback.
        // After the Workers tests, one file at a time: the load run measures latencies on a 2-core
        // machine and must not share it with the fuzz suite or the relay run.
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 240_000,
          hookTimeout: 90_000,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
      {
        // The Node tooling's own helpers (scripts/lib).
        test: { name: "tools", include: ["scripts/**/*.test.ts"], environment: "node" },
      },
    ],
  },
});
