/**
 * PassKit's pass-event webhook bodies, `{event, pass}`, as PassKit sends them to
 * `/v1/lifecycle/passkit`: one factory for the tests, the e2e and load runs and the benchmark.
 * Plain data, no Node or Workers API, so both can import it.
 */

export type PassKitEvent = "RECORD_CREATED" | "INSTALLED" | "RECORD_UPDATED" | "UNINSTALLED" | "INVALIDATED" | "RECORD_DELETED";

/** The pass as PassKit describes it; unknown fields go through, as the proxy keeps them. */
export interface WebhookPass {
  id: string;
  classId?: string;
  campaignName?: string;
  /** Who the pass belongs to in Braze: `userDefinedId`, else `externalId`; neither is a user-less pass. */
  userDefinedId?: string;
  externalId?: string;
  protocol?: string | number;
  metadata?: Record<string, unknown>;
  recordData?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface PassKitWebhookBody {
  event: `PASS_EVENT_${PassKitEvent}`;
  pass: WebhookPass;
}

/** The metadata field that says when each event happened: what tells recurring events apart. */
const OCCURRED_AT: Record<PassKitEvent, string> = {
  RECORD_CREATED: "createdAt",
  INSTALLED: "lastInstalledAt",
  RECORD_UPDATED: "updatedAt",
  UNINSTALLED: "lastUninstalledAt",
  INVALIDATED: "invalidatedAt",
  RECORD_DELETED: "invalidatedAt",
};

export interface WebhookOptions {
  /** When the event happened (ISO 8601), written to the metadata field PassKit uses for it. */
  at?: string;
  /** The wallet of an install (`installDevicePlatform`), e.g. `apple` or `google`. */
  platform?: string;
}

/** A webhook body; `pass.metadata` given here wins over what `options` write into it. */
export function passKitWebhook(event: PassKitEvent, pass: WebhookPass, options: WebhookOptions = {}): PassKitWebhookBody {
  const metadata = {
    ...(options.at === undefined ? {} : { [OCCURRED_AT[event]]: options.at }),
    ...(options.platform === undefined ? {} : { installDevicePlatform: options.platform }),
    ...pass.metadata,
  };
  return { event: `PASS_EVENT_${event}`, pass: { ...pass, ...(Object.keys(metadata).length ? { metadata } : {}) } };
}
