// An API as its server's rpc.describe tells it, written by
// `dotrpc describe ADDR --typescript`. Regenerate rather than edit.

export interface DemoApi {
  /** Adds two integers. */
  add(a: number, b: number): number;
  // count: a stream of number: client.stream<number>("count", [n, delay_ms])
  // double: streams both ways, number in and number out: client.conversation<number, number>("double", [])
  /**
   * Asks the caller its name (`client.name()`, a call back over the
   * same connection) and greets it.
   * @throws {RpcError} code `Application`, `data` a Rust `String`
   */
  greet(): string;
  /**
   * Counts a log line; one-way.
   * One-way: send it with `.notify(...)`; nothing is answered.
   */
  log(line: unknown /* Value */): void;
  /** Waits `ms` milliseconds, then returns `ms`. */
  sleep(ms: number): number;
  // sum: takes a stream of number: client.upload<number, number>("sum", [])
  events: {
    /**
     * Sends `events.tick [i]` for i in 0..n to the caller; one-way.
     * One-way: send it with `.notify(...)`; nothing is answered.
     */
    subscribe(n: number): void;
  };
  math: {
    /**
     * Divides; by zero is an application error.
     * @throws {RpcError} code `Application`, `data` a Rust `String`
     */
    div(a: number, b: number): number;
    /**
     * Rounds `x` to `digits` decimal places; `digits` may be left out (0),
     * as a param added to a method later would be.
     */
    round(x: number, digits?: number | null): number;
    stats: {
      /**
       * The mean of the values.
       * @throws {RpcError} code `Application`, `data` a Rust `String`
       */
      mean(values: number[]): number;
    };
  };
  stats: {
    /** How many `log` notifications arrived so far. */
    notifications(): number;
  };
}
