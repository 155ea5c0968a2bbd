/**
 * The benchmark's minimal Hono app: the ceiling's answer (the same body, the same Content-Type)
 * from one GET route of a default `new Hono()`, the framework the proxy is built on. Its CPU per
 * request over the ceiling's is what Hono's routing, Context and response building cost by
 * themselves, before any middleware or any work of the proxy's.
 *
 * The body is serialized once, as the ceiling's is (and as the proxy keeps its cached answers), so
 * that `c.body` adds nothing to the comparison but Hono; `c.json(object)` would add a
 * `JSON.stringify` per request.
 */
import { Hono } from "hono";
import { BODY } from "../ceiling/body.ts";

const app = new Hono();

app.get("/", (c) => c.body(BODY, 200, { "Content-Type": "application/json" }));

export default app;
