import type { Config } from "./config/config.ts";

/** Bindings and vars come from `wrangler types`; secrets are declared here, each optional so a
 * missing one is reported by the config parser instead of crashing. */
export interface Env extends Cloudflare.Env {
  /** One `user:password` per line: the HTTP Basic credentials Braze sends (pass, member and coupon routes). */
  PROXY_CREDENTIALS?: string;
  /** One `user:password` per line: what PassKit's webhooks send when PASSKIT_WEBHOOK_SECRET is unset. */
  WEBHOOK_CREDENTIALS?: string;
  /** One `user:password` per line: operators (dead letters, relay status). */
  OPERATOR_CREDENTIALS?: string;
  /** PassKit v3 API key (the `key` claim of every request token); needed only for /v1/passes. */
  PASSKIT_API_KEY?: string;
  /** PassKit v3 API secret: the HS256 key that signs request tokens. Never leaves the Worker. */
  PASSKIT_API_SECRET?: string;
  /** PassKit REST API key of the current platform (the `uid` claim); for /v1/members and /v1/coupons. */
  PASSKIT_REST_KEY?: string;
  /** PassKit REST API secret: signs a fresh JWT per request. Never leaves the Worker. */
  PASSKIT_REST_SECRET?: string;
  /** Alternative to key and secret: PassKit's long-lived token, sent as `Bearer`. */
  PASSKIT_REST_TOKEN?: string;
  /** Optional: signing secret of PassKit's webhooks; when set, lifecycle intake requires it. */
  PASSKIT_WEBHOOK_SECRET?: string;
  /** Braze REST API key with the `users.track` permission. */
  BRAZE_API_KEY?: string;
}

export type AppContext = {
  Bindings: Env;
  Variables: {
    requestId: string;
    config: Config;
    /** When the request arrived (ms), for deadlines such as Connected Content's 2 s. */
    startedAt: number;
    /** The Basic user that authenticated the request. */
    principal: string;
    /** An X-Request-Id the caller sent, logged beside the proxy's own (contract §9). */
    callerRequestId?: string;
  };
};
