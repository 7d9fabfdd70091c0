/**
 * The client: calls, notifications and handlers over one link, with the
 * API's nesting as property access (`api.math.stats.mean(values)` calls
 * `"math.stats.mean"`), and reconnection that reports its status the way
 * the Rust peer's `ConnectionEvent`s do.
 *
 * On the wire it is a plain msgpack-rpc peer. It also says the dotrpc hello
 * (`rpc.hello`), and with a server that answers it, a call that times out
 * is cancelled on the server (`rpc.cancel`) and carries its timeout as a
 * deadline the handler sees; with any other peer it sends nothing more.
 */
import { RpcError } from "./error.js";
import { type Link, type WebSocketConstructor, open } from "./link.js";

const REQUEST = 0;
const RESPONSE = 1;
const NOTIFICATION = 2;
const HELLO = "rpc.hello";
const CANCEL = "rpc.cancel";

/**
 * A remote method: call it for its result, or `.notify(...)` it one-way.
 * (A nested method that is itself named `notify` is called with
 * {@link Client.call}.)
 */
export interface Method<A extends unknown[], R> {
  (...params: A): Promise<R>;
  /** Sends the method as a notification: no reply, no error. */
  notify(...params: A): void;
}

/**
 * The client side of an API declared as a TypeScript interface (as
 * `dotrpc describe ADDR --typescript` writes them): methods become
 * {@link Method}s, nested interfaces nested proxies.
 */
export type Remote<T> = {
  [K in keyof T]: T[K] extends (...params: infer A) => infer R ? Method<A, Awaited<R>> : Remote<T[K]>;
};

/** The events a server pushes, by name: each one's params. */
export type EventMap = Record<string, unknown[]>;

/** What a handler is given and answers; see {@link Client.handle}. */
export type Handler = (...params: any[]) => unknown;

/** How the client reconnects when its connection drops. */
export interface ReconnectOptions {
  /** The wait before the first attempt, doubled each time (default 100 ms). */
  initialDelayMs?: number;
  /** The longest wait between attempts (default 5 s). */
  maxDelayMs?: number;
  /** Attempts before giving up (default: never give up). */
  maxAttempts?: number;
}

export interface ConnectOptions {
  /** The timeout of calls that set none (default: none). */
  timeoutMs?: number;
  /** Reconnect when the connection drops (default: no). */
  reconnect?: ReconnectOptions | boolean;
  /** The WebSocket class, where there is no global one. */
  WebSocket?: WebSocketConstructor;
}

/** The connection's status, as the Rust peer's `ConnectionEvent`s tell it. */
export type Status =
  | { type: "connecting" }
  | { type: "connected" }
  | { type: "disconnected"; reason: string }
  | { type: "reconnecting"; attempt: number; delayMs: number }
  | { type: "gaveUp"; attempts: number };

interface Pending {
  resolve(result: unknown): void;
  reject(error: RpcError): void;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** A call safe to repeat: what to send again, and how often it was sent. */
  repeat?: { request: unknown[]; sends: number };
}

/** How a call is made; see {@link Client.call}. */
export interface CallOptions {
  /**
   * The call is safe to repeat: if the connection drops before its answer
   * and the client reconnects, it is sent again on the next connection
   * (within its timeout, three times in all at most). Any other call that
   * was sent fails with `Disconnected`, as it may have run.
   */
  idempotent?: boolean;
}

/** How many times in all a call safe to repeat is sent, at most. */
const MAX_SENDS = 3;

/** How a stream call is opened; see {@link Client.stream}. */
export interface StreamOptions {
  /** Items the server may send ahead of those taken (default 32). */
  window?: number;
  /** `Timeout` if neither the first item nor the end comes within this. */
  timeoutMs?: number;
  /** Told how many items a server that keeps only the latest dropped. */
  onLagged?: (skipped: number) => void;
}

/** The receiving end of one stream call. */
interface Incoming {
  items: unknown[];
  /** Items the server was given room for so far (the window, then grants). */
  granted: number;
  /** Items the server sent; one more than granted ends the stream. */
  received: number;
  /** Set once the call is answered: its end, or the error it ended with. */
  end: { error?: RpcError } | undefined;
  /** Wakes a reader waiting for an item or the end. */
  wake: (() => void) | undefined;
  onLagged: ((skipped: number) => void) | undefined;
}

/** The sending end of one upload: the room the handler granted. */
interface Outgoing {
  granted: number;
  used: number;
  /** Set once the call is answered: no more items are taken. */
  answered: boolean;
  wake: (() => void) | undefined;
}

/** A call that streams both ways; see {@link Client.conversation}. */
export interface Conversation<I, O> extends AsyncIterable<O> {
  /** Sends one item once the handler has room; rejects with `Cancelled` once it answered. */
  send(item: I): Promise<void>;
  /** Says there are no more items; the answers go on until the handler ends them. */
  endInput(): void;
}

/** A call whose input is a stream of items; see {@link Client.upload}. */
export interface Upload<T, R> {
  /** Sends one item once the handler has room; rejects with `Cancelled` once it answered. */
  send(item: T): Promise<void>;
  /** Ends the input and waits for the answer. */
  finish(): Promise<R>;
}

/**
 * Connects to a dotrpc server (or any msgpack-rpc peer) at `url`:
 * `ws://`/`wss://` in browsers and Node, `tcp://host:port` in Node.
 * Rejects if the first connection cannot be made.
 */
export async function connect<Api = Record<string, any>, Events extends EventMap = EventMap>(
  url: string,
  options: ConnectOptions = {},
): Promise<Client<Api, Events>> {
  const client = new Client<Api, Events>(url, options);
  await client.start();
  return client;
}

export class Client<Api = Record<string, any>, Events extends EventMap = EventMap> {
  /** The API, as nested proxies; calls use the default timeout. */
  readonly api: Remote<Api>;
  /** Resolves with the reason once the client is closed for good. */
  readonly closed: Promise<string>;

  private readonly url: string;
  private readonly options: ConnectOptions;
  private link: Link | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  /** Calls safe to repeat whose connection dropped: sent again on the next. */
  private repeating: Pending[] = [];
  /** Stream calls this side made, by msgid: their items. */
  private readonly incoming = new Map<number, Incoming>();
  /** Uploads this side is sending, by msgid: their room. */
  private readonly outgoing = new Map<number, Outgoing>();
  private readonly handlers = new Map<string, Handler>();
  private readonly listeners = new Map<string, Set<(...params: any[]) => void>>();
  private readonly statusListeners = new Set<(status: Status) => void>();
  /** Calls from the server being answered, by msgid; a cancel removes one. */
  private readonly running = new Set<number>();
  /** Whether the server said the dotrpc hello on this connection. */
  private speaksDotrpc = false;
  private isClosed = false;
  private resolveClosed!: (reason: string) => void;

  /** Use {@link connect}. */
  constructor(url: string, options: ConnectOptions) {
    this.url = url;
    this.options = options;
    this.api = this.withTimeout(options.timeoutMs);
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  /** The API with calls that time out after `timeoutMs` (none: `undefined`). */
  withTimeout(timeoutMs: number | undefined): Remote<Api> {
    return this.proxy("", timeoutMs) as Remote<Api>;
  }

  /** Calls `method` by its dot-joined path. */
  call<R = unknown>(
    method: string,
    params: unknown[] = [],
    timeoutMs = this.options.timeoutMs,
    options: CallOptions = {},
  ): Promise<R> {
    const link = this.link;
    if (link === undefined) {
      return Promise.reject(new RpcError("Disconnected", this.isClosed ? "the client is closed" : "not connected"));
    }
    return new Promise<R>((resolve, reject) => {
      const pending: Pending = { resolve: resolve as (result: unknown) => void, reject, timer: undefined };
      const request: unknown[] = [REQUEST, 0, method, params];
      if (timeoutMs !== undefined && this.speaksDotrpc) request.push({ deadline_ms: timeoutMs });
      if (options.idempotent) pending.repeat = { request, sends: 0 };
      if (timeoutMs !== undefined) {
        pending.timer = setTimeout(() => {
          this.repeating = this.repeating.filter((waiting) => waiting !== pending);
          const msgid = request[1] as number;
          if (this.pending.get(msgid) === pending) {
            this.pending.delete(msgid);
            if (this.speaksDotrpc) this.send([NOTIFICATION, CANCEL, [msgid]]);
          }
          reject(new RpcError("Timeout", `${method} timed out after ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.sendCall(link, pending, request);
    });
  }

  /** Sends `request` under a fresh msgid, `pending` waiting for its answer. */
  private sendCall(link: Link, pending: Pending, request: unknown[]): void {
    const msgid = this.allocateId();
    request[1] = msgid;
    if (pending.repeat) pending.repeat.sends++;
    this.pending.set(msgid, pending);
    link.send(request);
  }

  /**
   * A stream call: the items `method(...params)` answers with, as they
   * come, granting the server room as they are taken. Stop early with
   * `break` (or `return()`): the call is cancelled on the server.
   *
   * ```ts
   * for await (const n of client.stream<number>("count", [5, 100])) console.log(n);
   * ```
   */
  stream<T = unknown>(method: string, params: unknown[] = [], options: StreamOptions = {}): AsyncIterable<T> {
    const window = Math.max(1, Math.min(options.window ?? 32, 65_536));
    return {
      [Symbol.asyncIterator]: () => this.openStream<T>(method, params, window, options, undefined).items,
    };
  }

  /**
   * A call that streams both ways: `send` items (each waits for room the
   * handler grants), `endInput()` when there are no more, and take the
   * answers with `for await`. Read the answers while sending: a handler
   * whose answers fill their window takes no more input until they are read.
   */
  conversation<I = unknown, O = unknown>(
    method: string,
    params: unknown[] = [],
    options: StreamOptions = {},
  ): Conversation<I, O> {
    const window = Math.max(1, Math.min(options.window ?? 32, 65_536));
    const room: Outgoing = { granted: 0, used: 0, answered: false, wake: undefined };
    const { items, msgid } = this.openStream<O>(method, params, window, options, room);
    let ended = false;
    return {
      send: (item: I) => this.sendInput(method, msgid, room, ended, item),
      endInput: () => {
        if (!ended && !room.answered) this.send([NOTIFICATION, "rpc.input_end", [msgid]]);
        ended = true;
      },
      [Symbol.asyncIterator]: () => items,
    };
  }

  /** Sends one input item of call `msgid`, once there is room. */
  private async sendInput(method: string, msgid: number, room: Outgoing, ended: boolean, item: unknown): Promise<void> {
    for (;;) {
      if (ended || room.answered || this.link === undefined) {
        throw new RpcError("Cancelled", `${method} takes no more items`);
      }
      if (room.used < room.granted) break;
      await new Promise<void>((resolve) => (room.wake = resolve));
    }
    room.used += 1;
    this.send([NOTIFICATION, "rpc.input", [msgid, item]]);
  }

  private openStream<T>(
    method: string,
    params: unknown[],
    window: number,
    options: StreamOptions,
    room: Outgoing | undefined,
  ): { items: AsyncIterator<T>; msgid: number } {
    const link = this.link;
    const msgid = this.allocateId();
    const stream: Incoming = {
      items: [],
      granted: window,
      received: 0,
      end: undefined,
      wake: undefined,
      onLagged: options.onLagged,
    };
    let taken = 0;
    let firstTimer: ReturnType<typeof setTimeout> | undefined;
    let done = false;
    if (link === undefined) {
      stream.end = { error: new RpcError("Disconnected", this.isClosed ? "the client is closed" : "not connected") };
    } else {
      this.incoming.set(msgid, stream);
      if (room !== undefined) this.outgoing.set(msgid, room);
      // The request is a call: its answer, through `pending`, is the end
      // (of the input too).
      const answered = () => {
        if (room === undefined) return;
        room.answered = true;
        this.outgoing.delete(msgid);
        room.wake?.();
      };
      this.pending.set(msgid, {
        resolve: () => {
          answered();
          this.endStream(msgid, {});
        },
        reject: (error) => {
          answered();
          this.endStream(msgid, { error });
        },
        timer: undefined,
      });
      link.send([REQUEST, msgid, method, params, { credit: window }]);
      if (options.timeoutMs !== undefined) {
        firstTimer = setTimeout(() => {
          this.cancelCall(msgid);
          this.endStream(msgid, {
            error: new RpcError("Timeout", `${method}: no item within ${options.timeoutMs} ms`),
          });
        }, options.timeoutMs);
      }
    }
    const finish = () => {
      done = true;
      clearTimeout(firstTimer);
      this.incoming.delete(msgid);
    };
    const items: AsyncIterator<T> = {
      next: async (): Promise<IteratorResult<T>> => {
        for (;;) {
          if (done) return { value: undefined, done: true };
          if (stream.items.length > 0) {
            clearTimeout(firstTimer);
            const value = stream.items.shift() as T;
            taken += 1;
            if (taken >= Math.ceil(window / 2) && stream.end === undefined) {
              this.send([NOTIFICATION, "rpc.credit", [msgid, taken]]);
              stream.granted += taken;
              taken = 0;
            }
            return { value, done: false };
          }
          if (stream.end !== undefined) {
            finish();
            if (stream.end.error !== undefined) throw stream.end.error;
            return { value: undefined, done: true };
          }
          await new Promise<void>((resolve) => (stream.wake = resolve));
        }
      },
      return: async (): Promise<IteratorResult<T>> => {
        if (!done && stream.end === undefined) this.cancelCall(msgid);
        finish();
        return { value: undefined, done: true };
      },
    };
    return { items, msgid };
  }

  /** Ends stream `msgid` (after the items it has); wakes its reader. */
  private endStream(msgid: number, end: { error?: RpcError }): void {
    const stream = this.incoming.get(msgid);
    if (stream === undefined || stream.end !== undefined) return;
    stream.end = end;
    stream.wake?.();
  }

  /** Gives up on call `msgid`: it is forgotten, and a dotrpc server stops it. */
  private cancelCall(msgid: number): void {
    this.pending.delete(msgid);
    if (this.speaksDotrpc || this.incoming.has(msgid) || this.outgoing.has(msgid)) {
      this.send([NOTIFICATION, CANCEL, [msgid]]);
    }
  }

  /**
   * A call whose input is a stream of items: send them with `send` (each
   * waits for room the handler grants), then `finish` for the answer.
   *
   * ```ts
   * const sum = client.upload<number, number>("sum");
   * for (let i = 1; i <= 100; i++) await sum.send(i);
   * console.log(await sum.finish()); // 5050
   * ```
   */
  upload<T = unknown, R = unknown>(method: string, params: unknown[] = []): Upload<T, R> {
    const room: Outgoing = { granted: 0, used: 0, answered: false, wake: undefined };
    let msgid: number | undefined;
    const answer = new Promise<R>((resolve, reject) => {
      const link = this.link;
      if (link === undefined) {
        reject(new RpcError("Disconnected", this.isClosed ? "the client is closed" : "not connected"));
        return;
      }
      const id = this.allocateId();
      msgid = id;
      this.outgoing.set(id, room);
      const settle = () => {
        room.answered = true;
        this.outgoing.delete(id);
        room.wake?.();
      };
      this.pending.set(id, {
        resolve: (result) => {
          settle();
          resolve(result as R);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
        timer: undefined,
      });
      // A stream call with no room for answer items (brokers route it as
      // one).
      link.send([REQUEST, id, method, params, { credit: 0 }]);
    });
    // Its rejection is told by `finish` (and by `send`).
    answer.catch(() => {});
    let ended = false;
    return {
      send: (item: T) =>
        msgid === undefined
          ? Promise.reject(new RpcError("Cancelled", `${method} takes no more items`))
          : this.sendInput(method, msgid, room, ended, item),
      finish: () => {
        if (!ended && !room.answered && msgid !== undefined) {
          ended = true;
          this.send([NOTIFICATION, "rpc.input_end", [msgid]]);
        }
        return answer;
      },
    };
  }

  /** Sends the notification `method(...params)`; dropped while disconnected. */
  notify(method: string, params: unknown[] = []): void {
    this.send([NOTIFICATION, method, params]);
  }

  /** Calls `listener` with the params of each notification `name` the server sends. */
  on<K extends keyof Events & string>(name: K, listener: (...params: Events[K]) => void): () => void {
    let set = this.listeners.get(name);
    if (set === undefined) this.listeners.set(name, (set = new Set()));
    set.add(listener as (...params: any[]) => void);
    return () => set.delete(listener as (...params: any[]) => void);
  }

  /** Calls `listener` with each change of the connection's status. */
  onStatus(listener: (status: Status) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /**
   * Answers the server's calls (and notifications) of `method` with
   * `handler`, which gets the params and returns the result or a promise of
   * it. Throw an {@link RpcError} to answer with that error; anything else
   * thrown answers `"Internal"`.
   */
  handle(method: string, handler: Handler): void {
    this.handlers.set(method, handler);
  }

  /**
   * Answers the server's calls with the methods of `api`, nested objects as
   * namespaces: `{ page: { title: () => document.title } }` serves
   * `"page.title"`.
   */
  serve(api: object, prefix = ""): void {
    for (const [name, value] of Object.entries(api)) {
      const path = prefix ? `${prefix}.${name}` : name;
      if (typeof value === "function") this.handle(path, value.bind(api));
      else if (typeof value === "object" && value !== null) this.serve(value, path);
    }
  }

  /** Closes the connection for good; pending calls fail with `Disconnected`. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const link = this.link;
    this.link = undefined;
    link?.close();
    this.failPending("the client is closed");
    this.resolveClosed("closed");
  }

  /** Makes the first connection. */
  async start(): Promise<void> {
    this.emit({ type: "connecting" });
    await this.dial();
  }

  private async dial(): Promise<void> {
    this.speaksDotrpc = false;
    let link: Link | undefined;
    link = await open(
      this.url,
      {
        message: (message) => this.receive(message),
        closed: (reason) => {
          if (this.link === link) this.lost(reason);
        },
      },
      this.options.WebSocket,
    );
    if (this.isClosed) {
      link.close();
      return;
    }
    this.link = link;
    link.send([NOTIFICATION, HELLO, [{ dotrpc: 1, features: ["cancel", "deadline"] }]]);
    this.emit({ type: "connected" });
    const repeating = this.repeating;
    this.repeating = [];
    for (const pending of repeating) this.sendCall(link, pending, pending.repeat!.request);
  }

  /** The connection dropped under us. */
  private lost(reason: string): void {
    this.link = undefined;
    this.running.clear();
    this.failPending(reason);
    this.emit({ type: "disconnected", reason });
    if (this.options.reconnect) {
      void this.reconnect();
    } else {
      this.isClosed = true;
      this.resolveClosed(reason);
    }
  }

  private async reconnect(): Promise<void> {
    const policy = this.options.reconnect === true ? {} : (this.options.reconnect as ReconnectOptions);
    const initial = policy.initialDelayMs ?? 100;
    const max = policy.maxDelayMs ?? 5000;
    const attempts = policy.maxAttempts ?? Infinity;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      // ±20 % so that the many pages of a restarted server do not all come
      // back at once.
      const base = Math.min(initial * 2 ** (attempt - 1), max);
      const delayMs = Math.round(base * (0.8 + 0.4 * Math.random()));
      this.emit({ type: "reconnecting", attempt, delayMs });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (this.isClosed) return;
      this.emit({ type: "connecting" });
      try {
        await this.dial();
        return;
      } catch {
        // The next attempt, after a longer wait.
      }
      if (this.isClosed) return;
    }
    this.isClosed = true;
    this.failPending(`gave up after ${attempts} attempts`);
    this.emit({ type: "gaveUp", attempts });
    this.resolveClosed(`gave up after ${attempts} attempts`);
  }

  /**
   * Takes one message. What cannot be pinned on one call (a frame of the
   * wrong shape, a bad msgid or path) closes the connection; what can is
   * that call's alone (PROTOCOL.md §3).
   */
  private receive(message: unknown): void {
    if (!Array.isArray(message)) return this.protocolError("a message that is not an array");
    const fault = shapeFault(message);
    if (fault !== undefined) return this.protocolError(fault);
    switch (message[0]) {
      case RESPONSE: {
        const [, msgid, error, result] = message;
        const pending = this.pending.get(msgid);
        if (pending === undefined) return; // timed out already
        this.pending.delete(msgid);
        clearTimeout(pending.timer);
        if (error === null || error === undefined) pending.resolve(result);
        else pending.reject(RpcError.fromWire(error));
        return;
      }
      case REQUEST: {
        const [, msgid, method, params, metadata] = message;
        if (!Array.isArray(params)) {
          this.send([RESPONSE, msgid, { code: "InvalidParams", message: `${method}: params are not an array` }, null]);
        } else if (metadata !== undefined && metadata !== null && !isMap(metadata)) {
          this.send([RESPONSE, msgid, { code: "InvalidParams", message: `${method}: metadata is not a map` }, null]);
        } else {
          void this.answer(msgid, method, params);
        }
        return;
      }
      case NOTIFICATION: {
        const [, method, params] = message;
        // No one to answer: a notification it cannot take is dropped.
        if (!Array.isArray(params)) return;
        const values: unknown[] = params;
        if (method === HELLO) {
          this.speaksDotrpc = true;
        } else if (method === CANCEL) {
          this.running.delete(values[0] as number);
        } else if (method === "rpc.item") {
          const msgid = values[0] as number;
          const stream = this.incoming.get(msgid);
          if (stream === undefined || stream.end !== undefined) return;
          stream.received += 1;
          if (stream.received > stream.granted) {
            // The server broke the stream's flow control: it ends here, alone.
            this.cancelCall(msgid);
            this.endStream(msgid, {
              error: new RpcError("Codec", `the server sent more than the ${stream.granted} items it was given room for`),
            });
            return;
          }
          stream.items.push(values[1]);
          stream.wake?.();
        } else if (method === "rpc.lagged") {
          if (isCount(values[1])) this.incoming.get(values[0] as number)?.onLagged?.(values[1]);
        } else if (method === "rpc.input_credit") {
          const room = this.outgoing.get(values[0] as number);
          if (room !== undefined && isCount(values[1])) {
            room.granted += values[1];
            room.wake?.();
          }
        } else {
          for (const listener of this.listeners.get(method) ?? []) listener(...values);
          const handler = this.handlers.get(method);
          if (handler !== undefined) void Promise.resolve().then(() => handler(...values)).catch(() => {});
        }
        return;
      }
    }
  }

  /** Answers the server's call, unless it was cancelled meanwhile. */
  private async answer(msgid: number, method: string, params: unknown[]): Promise<void> {
    const handler = this.handlers.get(method);
    if (handler === undefined) {
      this.send([RESPONSE, msgid, { code: "UnknownApi", message: `no handler for \`${method}\` on the page` }, null]);
      return;
    }
    this.running.add(msgid);
    let reply: unknown[];
    try {
      const result = await handler(...params);
      reply = [RESPONSE, msgid, null, result ?? null];
    } catch (error) {
      reply = [RESPONSE, msgid, RpcError.toWire(error), null];
    }
    if (this.running.delete(msgid)) this.send(reply);
  }

  private protocolError(what: string): void {
    const link = this.link;
    if (link === undefined) return;
    this.lost(`protocol error: ${what}`);
    link.close();
  }

  private send(message: unknown[]): void {
    this.link?.send(message);
  }

  /**
   * Fails the calls waiting for an answer on a connection that is gone, and
   * the streams; keeps calls safe to repeat for the next connection, if one
   * may come.
   */
  private failPending(reason: string): void {
    const mayRepeat = (call: Pending) =>
      !this.isClosed && this.options.reconnect && call.repeat !== undefined && call.repeat.sends < MAX_SENDS;
    const pending = [...this.repeating, ...this.pending.values()];
    this.pending.clear();
    this.repeating = pending.filter(mayRepeat);
    for (const msgid of [...this.incoming.keys()]) {
      this.endStream(msgid, { error: new RpcError("Disconnected", `disconnected: ${reason}`) });
    }
    for (const call of pending) {
      if (this.repeating.includes(call)) continue;
      clearTimeout(call.timer);
      call.reject(new RpcError("Disconnected", `disconnected: ${reason}`));
    }
  }

  private allocateId(): number {
    // msgpack-rpc msgids are 32-bit; skip any still waiting for its reply.
    do this.nextId = (this.nextId + 1) >>> 0;
    while (this.pending.has(this.nextId));
    return this.nextId;
  }

  private emit(status: Status): void {
    for (const listener of this.statusListeners) listener(status);
  }

  private proxy(path: string, timeoutMs: number | undefined): unknown {
    const call = (...params: unknown[]) => this.call(path, params, timeoutMs);
    const notify = (...params: unknown[]) => this.notify(path, params);
    return new Proxy(call, {
      get: (_target, name) => {
        // At the root, `notify` is a method of the API like any other.
        if (name === "notify" && path !== "") return notify;
        // Not a thenable: `await client.api` must not look for `then`.
        if (typeof name !== "string" || name === "then") return undefined;
        return this.proxy(path ? `${path}.${name}` : name, timeoutMs);
      },
    });
  }
}

/**
 * What makes `message` one to close the connection over (PROTOCOL.md §3),
 * if anything. A path sent as bin (old peers do) is made a string in place.
 */
function shapeFault(message: unknown[]): string | undefined {
  switch (message[0]) {
    case REQUEST:
      if (message.length !== 4 && message.length !== 5) return `a request of ${message.length} items`;
      if (!isMsgid(message[1])) return `a request whose msgid is ${String(message[1])}`;
      return pathFault(message, 2);
    case RESPONSE:
      if (message.length !== 4) return `a response of ${message.length} items`;
      if (!isMsgid(message[1])) return `a response whose msgid is ${String(message[1])}`;
      return undefined;
    case NOTIFICATION:
      if (message.length !== 3) return `a notification of ${message.length} items`;
      return pathFault(message, 1);
    default:
      return `a message of type ${String(message[0])}`;
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Whether `message[index]` is a path: a string, or bin of valid UTF-8 (made a string). */
function pathFault(message: unknown[], index: number): string | undefined {
  const path = message[index];
  if (typeof path === "string") return undefined;
  if (path instanceof Uint8Array) {
    try {
      message[index] = utf8.decode(path);
      return undefined;
    } catch {
      return "a path that is not UTF-8";
    }
  }
  return "a path that is not a string";
}

function isMsgid(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff;
}

/** A count of items: a whole number from 0. */
function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
}

function isMap(value: unknown): boolean {
  return typeof value === "object" && !Array.isArray(value) && !(value instanceof Uint8Array);
}
