import * as z from "zod";

/** A PassKit call as a dry run shows it (contract §2): never a token. */
export const plannedCallSchema = z.strictObject({
  method: z.string(),
  path: z.string().describe("Path and query, as sent to PassKit's API base."),
  body: z.unknown().describe("The JSON body, or null."),
  note: z.string().optional().describe("What the proxy does to the body first, when it is not sent as shown."),
});

/** What `X-Dry-Run: true` answers instead of writing: the calls the write would make. */
export const dryRunAnswerSchema = z
  .strictObject({ dryRun: z.literal(true), passKitRequests: z.array(plannedCallSchema) })
  .describe("The PassKit calls this write would make, none of them made.");
