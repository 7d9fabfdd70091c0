// The client against the demo server (examples/demo_server), which
// tests/typescript.rs starts and names in DOTRPC_TCP and DOTRPC_WS.
import assert from "node:assert/strict";
import net from "node:net";
import { type TestContext, describe, test } from "node:test";

import { type ConnectOptions, type EventMap, type Status, RpcError, connect } from "../src/index.js";
import type { DemoApi, Order, Quote, ShopError } from "./demo_api.js";
import type { DemoEvents } from "./demo_events.js";

const tcp = `tcp://${process.env.DOTRPC_TCP}`;
const ws = process.env.DOTRPC_WS as string;
assert.ok(process.env.DOTRPC_TCP && ws, "DOTRPC_TCP and DOTRPC_WS name the demo server");

/** Rejects if `promise` takes longer than `ms`. */
function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** A client closed when the test ends, passed or failed (an open socket would keep Node running). */
async function open<Api, Events extends EventMap = EventMap>(t: TestContext, url: string, options?: ConnectOptions) {
  const client = await connect<Api, Events>(url, options);
  t.after(() => client.close());
  return client;
}

async function rejection(promise: Promise<unknown>): Promise<RpcError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RpcError, `${error}`);
    return error;
  }
  assert.fail("the call succeeded");
}

for (const [name, url] of [["TCP", tcp], ["WebSocket", ws]] as const) {
  describe(`over ${name}`, { timeout: 20_000 }, () => {
    test("nested calls answer, with the types the declarations give", async (t) => {
      const client = await open<DemoApi>(t, url);
      assert.equal(await client.api.add(40, 2), 42);
      assert.equal(await client.api.math.stats.mean([1, 2, 6]), 3);
      assert.equal(await client.api.math.div(1, 4), 0.25);
      assert.equal(await client.api.math.round(2.567), 3, "a trailing optional param left out");
      assert.equal(await client.api.math.round(2.567, 2), 2.57);
      assert.equal(await client.call("add", [1, 2]), 3, "by path too");
      const bytes = new Uint8Array([0, 1, 2, 255]);
      const echoed = await client.call("echo", [bytes]);
      assert.ok(echoed instanceof Uint8Array, "bytes are bytes");
      assert.deepEqual([...echoed], [...bytes]);
    });

    test("nested structs and enums go both ways as their declarations say", async (t) => {
      const client = await open<DemoApi>(t, url);
      const order: Order = {
        lines: [
          { item: { sku: "b1", price_cents: 1250, kind: "Book" }, quantity: 2 },
          {
            item: {
              sku: "g1",
              price_cents: 0,
              kind: { Gift: { sku: "t1", price_cents: 500, kind: { Toy: { min_age: 3 } }, tags: ["wood"] } },
            },
            quantity: 1,
          },
          { item: { sku: "f1", price_cents: 100, kind: { Food: ["apple", true] } }, quantity: 3 },
        ],
        discount: { Percent: 10 },
        ship_to: { name: "Ada", lines: ["1 Road"], country: "UK" },
      };
      const quote: Quote = await client.api.shop.quote(order);
      assert.deepEqual(quote, { total_cents: 2970, items: 6, ship_to: "UK" });
      const { discount: _, ...undiscounted } = order;
      assert.equal((await client.api.shop.quote(undiscounted)).total_cents, 3300, "an optional field left out");

      const unknown = (await rejection(client.api.shop.quote({ ...order, discount: { Code: { code: "NOPE" } } }))) as RpcError<ShopError>;
      assert.equal(unknown.code, "Application");
      assert.equal(unknown.message, "no discount code `NOPE`");
      assert.deepEqual(unknown.data, { UnknownCode: { code: "NOPE" } });
      const empty = (await rejection(client.api.shop.quote({ ...order, lines: [] }))) as RpcError<ShopError>;
      assert.equal(empty.data, "EmptyOrder", "a unit variant is its name");
    });

    test("errors are RpcErrors with the server's code, message and data", async (t) => {
      const client = await open<DemoApi>(t, url);
      const div = await rejection(client.api.math.div(1, 0));
      assert.equal(div.code, "Application");
      assert.equal(div.message, "division by zero");
      assert.equal(div.data, "division by zero");
      assert.equal((await rejection(client.call("no.such.method"))).code, "UnknownApi");
      assert.equal((await rejection(client.call("add", ["one", 2]))).code, "InvalidParams");
    });

    test("a call past its timeout fails with Timeout, and the connection goes on", async (t) => {
      const client = await open<DemoApi>(t, url, { timeoutMs: 5000 });
      const late = await rejection(client.withTimeout(50).sleep(2000));
      assert.equal(late.code, "Timeout");
      assert.equal(await client.api.sleep(1), 1, "the default timeout is long enough");
    });

    test("notifications go both ways, and pushed events are typed", async (t) => {
      const client = await open<DemoApi, DemoEvents>(t, url);
      const before = await client.api.stats.notifications();
      client.api.log.notify("one");
      client.notify("log", ["two"]);
      // Notifications on one connection are handled in order, before this call.
      assert.equal(await client.api.stats.notifications(), before + 2);

      const ticks: number[] = [];
      const three = new Promise<void>((resolve) => {
        client.on("events.tick", (i) => {
          ticks.push(i);
          if (ticks.length === 3) resolve();
        });
      });
      client.api.events.subscribe.notify(3);
      await within(5000, three);
      assert.deepEqual(ticks, [0, 1, 2]);
    });

    test("the server calls handlers the client serves, and sees their errors", async (t) => {
      const client = await open<DemoApi>(t, url);
      client.serve({ client: { name: () => `node over ${name}` } });
      assert.equal(await client.api.greet(), `hello, node over ${name}`);
      client.handle("client.name", async () => {
        throw new RpcError("Application", "no name today");
      });
      const refused = await rejection(client.api.greet());
      assert.equal(refused.code, "Application");
      assert.match(refused.message, /no name today/);
    });

    test("a stream's items come as they are taken, and break cancels it", async (t) => {
      const client = await open<DemoApi>(t, url);
      const items: number[] = [];
      for await (const item of client.stream<number>("count", [5, 0], { window: 2 })) items.push(item);
      assert.deepEqual(items, [0, 1, 2, 3, 4]);

      let taken = 0;
      for await (const item of client.stream<number>("count", [100_000, 1])) {
        assert.equal(item, taken);
        if (++taken === 3) break;
      }
      assert.equal(await client.api.add(1, 2), 3, "the connection goes on");

      const late = client.stream<number>("count", [1, 2_000], { timeoutMs: 50 });
      await assert.rejects(async () => {
        for await (const _ of late);
      }, (error: unknown) => error instanceof RpcError && error.code === "Timeout");
      await assert.rejects(async () => {
        for await (const _ of client.stream("count", ["five", 0]));
      }, (error: unknown) => error instanceof RpcError && error.code === "InvalidParams");
    });

    test("an upload sends its items as the server takes them", async (t) => {
      const client = await open<DemoApi>(t, url);
      const sum = client.upload<number, number>("sum");
      for (let i = 1; i <= 100; i++) await sum.send(i);
      assert.equal(await sum.finish(), 5050);
    });

    test("a conversation streams both ways on one call", async (t) => {
      const client = await open<DemoApi>(t, url);
      const chat = client.conversation<number, number>("double");
      const answers = chat[Symbol.asyncIterator]();
      for (const n of [1, 2, 3]) {
        await chat.send(n);
        assert.deepEqual(await answers.next(), { value: n * 2, done: false });
      }
      chat.endInput();
      assert.equal((await answers.next()).done, true);
      await assert.rejects(chat.send(4), (error: unknown) => error instanceof RpcError && error.code === "Cancelled");
    });

    test("closing fails pending calls with Disconnected", async (t) => {
      const client = await open<DemoApi>(t, url);
      const pending = client.api.sleep(5000);
      client.close();
      assert.equal((await rejection(pending)).code, "Disconnected");
      assert.equal(await client.closed, "closed");
      assert.equal((await rejection(client.api.add(1, 2))).code, "Disconnected");
    });
  });
}

/**
 * A TCP proxy to the demo server whose connections the test can cut, and
 * which it can stop.
 */
async function proxy(): Promise<{ url: string; cut(): void; stop(): Promise<void> }> {
  const [host, port] = (process.env.DOTRPC_TCP as string).split(":");
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect({ host: host as string, port: Number(port) });
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => {
        sockets.delete(socket);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port: local } = server.address() as net.AddressInfo;
  const cut = () => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    url: `tcp://127.0.0.1:${local}`,
    cut,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        cut();
      }),
  };
}

describe("reconnecting", { timeout: 20_000 }, () => {
  test("a dropped connection is redialled, with the Rust peer's status events", async (t) => {
    const relay = await proxy();
    t.after(() => relay.stop());
    const client = await open<DemoApi>(t, relay.url, { reconnect: { initialDelayMs: 20 } });
    const statuses: Status[] = [];
    const back = new Promise<void>((resolve) => {
      client.onStatus((status) => {
        statuses.push(status);
        if (status.type === "connected") resolve();
      });
    });
    const pending = client.api.sleep(5000);
    relay.cut();
    assert.equal((await rejection(pending)).code, "Disconnected", "a call that may have run is not sent again");
    await within(5000, back);
    assert.deepEqual(
      statuses.map((status) => status.type),
      ["disconnected", "reconnecting", "connecting", "connected"],
    );
    assert.equal((statuses[1] as { attempt: number }).attempt, 1);
    assert.equal(await client.api.add(1, 2), 3, "calls go on on the new connection");
  });

  test("it gives up after its attempts, and the client is closed", async (t) => {
    const relay = await proxy();
    t.after(() => relay.stop());
    const client = await open<DemoApi>(t, relay.url, { reconnect: { initialDelayMs: 10, maxAttempts: 2 } });
    const statuses: string[] = [];
    client.onStatus((status) => statuses.push(status.type));
    await relay.stop();
    assert.equal(await within(5000, client.closed), "gave up after 2 attempts");
    assert.deepEqual(statuses, [
      "disconnected",
      "reconnecting",
      "connecting",
      "reconnecting",
      "connecting",
      "gaveUp",
    ]);
    assert.equal((await rejection(client.api.add(1, 2))).code, "Disconnected");
  });
});
