const MAX_SEGMENT = 128;

/** RFC 6901 JSON Pointer; an absurdly long key is shortened with "…" rather than echoed whole. */
export function toPointer(path: readonly PropertyKey[]): string {
  return path
    .map((segment) => {
      const text = String(segment);
      const shown = text.length > MAX_SEGMENT ? `${text.slice(0, MAX_SEGMENT)}…` : text;
      return `/${shown.replace(/~/g, "~0").replace(/\//g, "~1")}`;
    })
    .join("");
}
