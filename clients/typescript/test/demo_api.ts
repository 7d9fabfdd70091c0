// An API as its server's rpc.describe tells it, written by
// `dotrpc describe ADDR --typescript`. Regenerate rather than edit.
// Integers are numbers: exact up to 2^53 (Number.MAX_SAFE_INTEGER).

export interface Address {
  name: string;
  lines: string[];
  country: string;
}

export type Discount =
  | { Percent: number }
  | { Cents: number }
  | { Code: { code: string } };

export interface Item {
  sku: string;
  price_cents: number;
  kind: Kind;
  tags?: string[];
}

export type Kind =
  | "Book"
  | { Toy: { min_age: number } }
  | { Food: [string, boolean] }
  | { Gift: Item };

export interface Line {
  item: Item;
  quantity: number;
}

export interface Order {
  lines: Line[];
  discount?: Discount | null;
  ship_to: Address;
}

export interface Quote {
  total_cents: number;
  items: number;
  ship_to: string;
}

export type ShopError =
  | "EmptyOrder"
  | { UnknownCode: { code: string } };

export interface DemoApi {
  /** Adds two integers. */
  add(a: number, b: number): number;
  // count: a stream of number: client.stream<number>("count", [n, delay_ms])
  // double: streams both ways, number in and number out: client.conversation<number, number>("double", [])
  /**
   * Asks the caller its name (`client.name()`, a call back over the
   * same connection) and greets it.
   * @throws {RpcError<string>} code `Application`, `data` a `string`
   */
  greet(): string;
  /**
   * Counts a log line; one-way.
   * One-way: send it with `.notify(...)`; nothing is answered.
   */
  log(line: unknown): void;
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
     * @throws {RpcError<string>} code `Application`, `data` a `string`
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
       * @throws {RpcError<string>} code `Application`, `data` a `string`
       */
      mean(values: number[]): number;
    };
  };
  shop: {
    /**
     * Prices an order: each line's price times its quantity, less the
     * discount; a gift's price is its wrapped item's.
     * @throws {RpcError<ShopError>} code `Application`, `data` a `ShopError`
     */
    quote(order: Order): Quote;
  };
  stats: {
    /** How many `log` notifications arrived so far. */
    notifications(): number;
  };
}
