import * as z from "zod";

/** PassKit's pass-event webhook (docs/upstreams.md): `{event, pass}`; unknown pass fields are kept. */
export const passKitWebhookSchema = z.object({
  event: z.string().min(1).max(64),
  pass: z.looseObject({
    // Well-formed: the id goes through encodeURIComponent into the pass URL, which throws a
    // URIError (a 500) on a lone surrogate such as "\udfff".
    id: z
      .string()
      .min(1)
      .max(255)
      .refine((value) => value.isWellFormed(), { error: "must be well-formed Unicode (no lone surrogates)" }),
    classId: z.string().max(255).optional(),
    campaignName: z.string().max(255).optional(),
    userDefinedId: z.string().max(512).optional(),
    externalId: z.string().max(512).optional(),
    templateName: z.string().max(255).optional(),
    protocol: z.union([z.string(), z.number()]).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    metaData: z.record(z.string(), z.unknown()).optional(),
    recordData: z.record(z.string(), z.unknown()).optional(),
  }),
});
