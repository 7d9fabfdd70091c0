/**
 * A typed client for dotrpc servers: msgpack-rpc over WebSocket in
 * browsers and over WebSocket or TCP in Node.
 *
 * ```ts
 * import { connect } from "@dotrpc/client";
 * import type { DemoApi } from "./api.js"; // dotrpc describe ADDR --typescript
 *
 * const client = await connect<DemoApi>("ws://127.0.0.1:8080/rpc", { timeoutMs: 5000 });
 * const mean = await client.api.math.stats.mean([1, 2, 3]);
 * ```
 */
export { Client, connect } from "./client.js";
export type {
  CallOptions,
  ConnectOptions,
  Conversation,
  EventMap,
  Handler,
  Method,
  ReconnectOptions,
  Remote,
  Status,
  StreamOptions,
  Upload,
} from "./client.js";
export { RpcError } from "./error.js";
export type { WebSocketConstructor } from "./link.js";
