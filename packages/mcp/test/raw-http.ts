/**
 * Raw HTTP/1.1 over a TCP socket on 127.0.0.1, for the bodies no HTTP client sends: a declared
 * length it never completes, a trickle, a cut connection, a reset. Shared with the security suite.
 */
import { connect, type Socket } from "node:net";

export interface RawAnswer {
  /** The status of the first response, if one arrived. */
  readonly status: number | undefined;
  /** Everything received (the response head and body). */
  readonly text: string;
  /** How many HTTP responses arrived (a request must be answered at most once). */
  readonly responses: number;
  /** How the exchange ended on our side. */
  readonly end: "closed" | "reset" | "timeout";
}

export interface RawRequest {
  readonly port: number;
  readonly head: string;
  /** Body pieces, written one after the other, `gapMs` apart. */
  readonly chunks?: readonly (string | Uint8Array)[];
  readonly gapMs?: number;
  /** After the chunks: wait for the answer, half-close, destroy, or reset the connection. */
  readonly then?: "wait" | "half-close" | "destroy" | "reset";
  /** Give up waiting after this long. @default 5000 */
  readonly timeoutMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A request head: `POST /mcp` with the given headers (CRLF line ends, blank line). */
export function head(method: string, path: string, headers: Readonly<Record<string, string | number>>): string {
  return `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n` + Object.entries(headers).map(([k, v]) => `${k}: ${String(v)}\r\n`).join("") + "\r\n";
}

export function rawRequest(req: RawRequest): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket: Socket = connect(req.port, "127.0.0.1");
    let text = "";
    let settled = false;
    const finish = (end: RawAnswer["end"]): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve({ status: m === null ? undefined : Number(m[1]), text, responses: text.match(/^HTTP\/1\.1 \d{3}/gm)?.length ?? 0, end });
    };
    const timer = setTimeout(() => {
      finish("timeout");
    }, req.timeoutMs ?? 5000);
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => {
      text += d;
    });
    socket.on("error", () => {
      finish("reset");
    });
    socket.on("close", () => {
      finish("closed");
    });
    socket.on("connect", () => {
      void (async () => {
        socket.write(req.head);
        for (const c of req.chunks ?? []) {
          if (req.gapMs !== undefined) await sleep(req.gapMs);
          if (socket.destroyed) return;
          socket.write(c);
        }
        switch (req.then ?? "wait") {
          case "wait":
            return;
          case "half-close":
            socket.end();
            return;
          case "destroy":
            await sleep(20);
            finish("closed");
            return;
          case "reset":
            await sleep(20);
            socket.resetAndDestroy();
            finish("reset");
            return;
        }
      })();
    });
  });
}
