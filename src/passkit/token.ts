/**
 * PassKit v3 request tokens: a JWT signed HS256 with the account's API secret, fresh for every
 * request, whose claims bind it to one method, URL and body (UPSTREAMS.md, "Auth").
 */

export interface TokenRequest {
  key: string;
  secret: string;
  method: string;
  url: string;
  /** The exact bytes sent, "" when there is no body. */
  body: string;
  /** Seconds since the epoch; defaults to now. */
  issuedAt?: number;
}

export async function signPassKitToken(request: TokenRequest): Promise<string> {
  const claims = {
    key: request.key,
    iat: request.issuedAt ?? Math.floor(Date.now() / 1000),
    signature: await sha256Hex(request.body),
    url: request.url,
    method: request.method,
  };
  const signingInput = `${base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${base64url(JSON.stringify(claims))}`;
  const signature = await hmacSha256(request.secret, signingInput);
  return `${signingInput}.${base64urlBytes(signature)}`;
}

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export async function hmacSha256(secret: string, data: string): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(data)));
}

function base64url(text: string): string {
  return base64urlBytes(new TextEncoder().encode(text));
}

export function base64urlBytes(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
