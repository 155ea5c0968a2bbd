/** An upstream answer over this is not read whole (contract §8.7): 1 MiB. */
const MAX_UPSTREAM_BYTES = 1_048_576;

/**
 * The response body as UTF-8 text, or `undefined` once it passes `maxBytes`, whatever
 * Content-Length says: the stream is cancelled there rather than buffered.
 */
export async function readBoundedText(response: Response, maxBytes = MAX_UPSTREAM_BYTES): Promise<string | undefined> {
  const declared = Number(response.headers.get("Content-Length") ?? "0");
  if (declared > maxBytes) {
    await response.body?.cancel();
    return undefined;
  }
  if (!response.body) return "";
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let total = 0;
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      return undefined;
    }
    text += decoder.decode(value, { stream: true });
  }
  return text + decoder.decode();
}
