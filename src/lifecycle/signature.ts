import { constantTimeEquals } from "../auth/constant-time.ts";
import { base64url, hex, hmacSha256 } from "../crypto.ts";
import { log } from "../log.ts";
import { signatureParts, signatureVariants } from "./inferred.ts";

/**
 * Whether `header` is a valid `x-passkit-signature` of the body's exact bytes under `secret`,
 * compared in constant time. Checked before the body is parsed, so an unsigned caller learns
 * nothing about what the proxy would make of its body. The exact scheme is unknown
 * (`signatureVariants`): the one that matched is logged.
 */
export async function verifyPassKitSignature(secret: string, header: string | undefined, rawBody: Uint8Array): Promise<boolean> {
  const parts = header ? signatureParts(header) : undefined;
  if (!parts) return false;
  let matched: string | undefined;
  for (const variant of signatureVariants(secret, parts.nonce, rawBody)) {
    const mac = await hmacSha256(variant.key, variant.message);
    const encodings = { hex: hex(mac), base64: btoa(String.fromCharCode(...mac)), base64url: base64url(mac) };
    for (const [encoding, expected] of Object.entries(encodings)) {
      const presented = encoding === "hex" ? parts.signature.toLowerCase() : parts.signature;
      // Every variant is computed and compared, so the time taken does not say which one matched.
      if ((await constantTimeEquals(expected, presented)) && matched === undefined) matched = `${variant.name}/${encoding}`;
    }
  }
  if (matched) log("info", "webhook_signature_verified", { scheme: matched });
  return matched !== undefined;
}
