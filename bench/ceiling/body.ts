/**
 * The fixed answer of the benchmark's ceiling and of its minimal Hono app: a JSON body the size of
 * the proxy's lookup answer for the benchmark's users (`npm run bench` prints both sizes and checks
 * that the two Workers answer byte for byte alike).
 */
export const BODY = JSON.stringify({
  id: "Ab3dEf6hIj9lMn2pQr5tUv",
  url: "https://q.passkit.net/~/#/p/Ab3dEf6hIj9lMn2pQr5tUv",
  campaignName: "bench-hit",
  userDefinedId: "hit-user-000000",
  isVoided: false,
  isRedeemed: false,
  isInvalid: false,
  expiryDate: null,
});
