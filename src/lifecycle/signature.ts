import { hmacSha256 } from "../passkit/token.ts";
import { signatureParts, signedContent } from "./inferred.ts";

/** Whether `header` is a valid `x-passkit-signature` of `rawBody` under `secret` (constant time). */
export async function verifyPassKitSignature(secret: string, header: string | undefined, rawBody: string): Promise<boolean> {
  const parts = header ? signatureParts(header) : undefined;
  if (!parts) return false;
  const expected = hex(await hmacSha256(secret, signedContent(parts.nonce, rawBody)));
  // Equal-length digests of both sides, so the comparison's time says nothing about the input.
  const [a, b] = await Promise.all([digest(expected), digest(parts.signature)]);
  return crypto.subtle.timingSafeEqual(a, b);
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function digest(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
}
