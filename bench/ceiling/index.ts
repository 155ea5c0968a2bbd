/**
 * The benchmark's ceiling: the least a Worker can do to answer a Connected Content lookup. It
 * answers every request with a fixed JSON body the size of the proxy's lookup answer for the
 * benchmark's users (`npm run bench` prints both sizes), so the gap between this and `lookup_hit`
 * is what the proxy itself costs.
 */
import { BODY } from "./body.ts";

export default {
  fetch(): Response {
    return new Response(BODY, { headers: { "Content-Type": "application/json" } });
  },
};
