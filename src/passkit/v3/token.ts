import { sha256Hex, signHs256 } from "../../crypto.ts";

/**
 * PassKit v3 request tokens: a JWT signed HS256 with the account's API secret, fresh for every
 * request, whose claims bind it to one method, URL and body (docs/upstreams.md, "PassKit v3").
 */
interface TokenRequest {
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
  return signHs256(request.secret, {
    key: request.key,
    iat: request.issuedAt ?? Math.floor(Date.now() / 1000),
    signature: await sha256Hex(request.body),
    url: request.url,
    method: request.method,
  });
}
