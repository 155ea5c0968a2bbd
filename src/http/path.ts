import { ProblemError } from "./problem.ts";

/**
 * The percent-decoded segments of the request path after `prefix`, read from the raw URL: an
 * encoded "/" stays inside its segment, and a malformed escape is a 400 rather than a guess.
 */
export function pathSegments(url: string, prefix: string): string[] {
  const { pathname } = new URL(url);
  const rest = pathname.slice(prefix.length).replace(/^\//, "");
  return rest.split("/").map((segment) => {
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
