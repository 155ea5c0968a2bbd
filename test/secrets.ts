/** The secrets the test Worker runs with (bound in vitest.config.ts). Test-only values. */
export const TEST_SECRETS = {
  PROXY_CREDENTIALS: "braze:correct horse battery staple\nrotating:new:pass:with:colons",
  WEBHOOK_CREDENTIALS: "passkit:webhook tuna sandwich",
  OPERATOR_CREDENTIALS: "ops:operator plum orchard\nops-next:operator rotated",
  PASSKIT_API_KEY: "test-key",
  PASSKIT_API_SECRET: "test-secret",
  BRAZE_API_KEY: "test-braze-key",
  PASSKIT_REST_KEY: "test-rest-key",
  PASSKIT_REST_SECRET: "test-rest-secret",
};
