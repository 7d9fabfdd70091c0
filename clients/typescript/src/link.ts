/**
 * Links: one connection carrying msgpack-rpc messages, whole. In a browser
 * that is a WebSocket, one message per binary WebSocket message; in Node,
 * a WebSocket or a TCP socket, where messages follow each other on the
 * byte stream.
 */
import { decode, decodeMultiStream, encode } from "@msgpack/msgpack";

/** What a link tells its owner. */
export interface LinkEvents {
  /** A message arrived (decoded, not yet checked to be msgpack-rpc). */
  message(message: unknown): void;
  /** The link ended, and why; called once. */
  closed(reason: string): void;
}

/** An open connection. */
export interface Link {
  /** Sends one message. */
  send(message: unknown): void;
  /** Closes the connection; `closed` is called with "closed". */
  close(): void;
}

/** A `WebSocket` constructor, as browsers and Node (22 and later) have one. */
export type WebSocketConstructor = new (url: string) => WebSocket;

/**
 * Opens a link to `url`: `ws://` or `wss://` everywhere, `tcp://host:port`
 * in Node.
 */
export async function open(
  url: string,
  events: LinkEvents,
  webSocket: WebSocketConstructor | undefined,
): Promise<Link> {
  const scheme = url.slice(0, url.indexOf(":"));
  switch (scheme) {
    case "ws":
    case "wss":
      return openWebSocket(url, events, webSocket ?? globalThis.WebSocket);
    case "tcp":
      return openTcp(url, events);
    default:
      throw new Error(`${url}: the URL must be ws://, wss:// or tcp://`);
  }
}

function openWebSocket(
  url: string,
  events: LinkEvents,
  WebSocketClass: WebSocketConstructor | undefined,
): Promise<Link> {
  if (WebSocketClass === undefined) {
    throw new Error("no WebSocket here: pass one in the `WebSocket` option (Node before 22: --experimental-websocket)");
  }
  const socket = new WebSocketClass(url);
  socket.binaryType = "arraybuffer";
  let ended = false;
  const end = (reason: string) => {
    if (ended) return;
    ended = true;
    events.closed(reason);
  };
  const link: Link = {
    send(message) {
      socket.send(encode(message));
    },
    close() {
      socket.close(1000);
      end("closed");
    },
  };
  return new Promise((resolve, reject) => {
    socket.onopen = () => resolve(link);
    socket.onerror = () => {
      // The close that follows says no more; before `open`, connecting failed.
      reject(new Error(`cannot connect to ${url}`));
    };
    socket.onclose = (event) => {
      reject(new Error(`cannot connect to ${url}: closed (${event.code})`));
      end(event.reason ? `closed by the server: ${event.reason}` : "closed by the server");
    };
    socket.onmessage = (event) => {
      if (typeof event.data === "string") {
        socket.close(1003, "text message");
        end("protocol error: a text WebSocket message; msgpack-rpc travels in binary messages");
        return;
      }
      let message: unknown;
      try {
        message = decode(new Uint8Array(event.data as ArrayBuffer));
      } catch (error) {
        socket.close(1007, "not msgpack");
        end(`protocol error: ${(error as Error).message}`);
        return;
      }
      events.message(message);
    };
  });
}

async function openTcp(url: string, events: LinkEvents): Promise<Link> {
  const { hostname, port } = new URL(url);
  if (!hostname || !port) throw new Error(`${url}: a TCP URL names a host and a port`);
  const net = await import("node:net");
  const socket = net.connect({ host: hostname.replace(/^\[|\]$/g, ""), port: Number(port) });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  let ended = false;
  const end = (reason: string) => {
    if (ended) return;
    ended = true;
    socket.destroy();
    events.closed(reason);
  };
  socket.on("error", (error) => end(`transport error: ${error.message}`));
  (async () => {
    try {
      for await (const message of decodeMultiStream(socket)) {
        events.message(message);
      }
      end("closed by the server");
    } catch (error) {
      end(ended ? "closed" : `protocol error: ${(error as Error).message}`);
    }
  })();
  return {
    send(message) {
      socket.write(encode(message));
    },
    close() {
      end("closed");
    },
  };
}
