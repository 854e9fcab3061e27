/**
 * Bounded body reading over Web streams, shared by the broker client, the JWKS loader and the
 * MCP gate: a hostile or broken peer can never make us buffer more than `maxBytes`.
 */

/**
 * Reads at most `maxBytes` of a body stream as UTF-8 text (invalid bytes become U+FFFD);
 * `undefined` when it is larger, in which case the stream is cancelled.
 */
export async function readCappedText(stream: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<string | undefined> {
  if (stream === null) return "";
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      // Not awaited: cancelling one branch of a tee (Request.clone) settles only once both are cancelled.
      reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.byteLength;
  }
  return new TextDecoder().decode(all);
}
