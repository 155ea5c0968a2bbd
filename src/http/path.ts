import { ProblemError } from "./problem.ts";

/**
 * The identifiers a route names, read from the raw URL (contract §8.5): the path must begin with the
 * route's own prefix exactly as written (the router matches percent-decoded paths, so
 * `/v1/pa%73ses/…` reaches the pass routes), then hold exactly `count` non-empty segments and the
 * literal `suffix` segments. Each identifier is percent-decoded once, so an encoded "/" stays inside
 * it. Anything else is a 404 that touches nothing; a malformed escape is a 400.
 */
export function routeIdentifiers(
  url: string,
  prefix: string,
  count: number,
  suffix: readonly string[] = [],
  pathname = rawPathname(url),
): string[] {
  const segments = pathname.startsWith(`${prefix}/`) ? pathname.slice(prefix.length + 1).split("/") : [];
  const named = segments.slice(0, count);
  const matches =
    segments.length === count + suffix.length && named.every(Boolean) && suffix.every((literal, i) => segments[count + i] === literal);
  if (!matches) throw noRoute(pathname);
  return named.map((segment) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      throw new ProblemError({
        status: 400,
        code: "invalid_path",
        title: "Malformed URL path",
        detail: "A path segment has an invalid percent-encoding.",
      });
    }
  });
}

/**
 * The path of a request URL as the runtime parsed it (normalised, still percent-encoded), without
 * building a URL object: `request.url` is already WHATWG-normalised.
 */
export function rawPathname(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  let end = url.indexOf("?", start);
  const hash = url.indexOf("#", start);
  if (hash >= 0 && (end < 0 || hash < end)) end = hash;
  return end < 0 ? url.slice(start) : url.slice(start, end);
}

/** The 404 for a path no route serves; an error answer never quotes a large request back. */
export function noRoute(pathname: string, method?: string): ProblemError {
  const shown = pathname.length > 200 ? `${pathname.slice(0, 200)}…` : pathname;
  return new ProblemError({
    status: 404,
    code: "route_not_found",
    title: "Not found",
    detail: `No route for ${method ? `${method} ` : ""}${shown}.`,
  });
}
