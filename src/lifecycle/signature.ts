import { signatureParts, signedContent } from "./inferred.ts";

/**
 * Whether `header` is a valid `x-passkit-signature` of the body's exact bytes under `secret`,
 * compared in constant time. Checked before the body is parsed, so an unsigned caller learns
 * nothing about what the proxy would make of its body.
 */
export async function verifyPassKitSignature(secret: string, header: string | undefined, rawBody: Uint8Array): Promise<boolean> {
  const parts = header ? signatureParts(header) : undefined;
  if (!parts) return false;
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, signedContent(parts.nonce, rawBody)));
  const expected = [...mac].map((b) => b.toString(16).padStart(2, "0")).join("");
  // Equal-length digests of both sides, so the comparison's time says nothing about the input.
  const [a, b] = await Promise.all([digest(expected), digest(parts.signature)]);
  return crypto.subtle.timingSafeEqual(a, b);
}

function digest(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
}
