// The TypeScript client's driver for the client side of the conformance
// suite (conformance/clients.py): given `SCENARIO tcp://HOST:PORT`, it
// connects the client (clients/typescript, built by scripts/typescript.sh)
// to the scripted server there, does what the scenario asks, and prints one
// line per outcome: a result, `end` for a stream's end, or `error:CODE`.
import { connect } from "../../clients/typescript/dist/src/index.js";

const [scenario, address] = process.argv.slice(2);
if (scenario === undefined || address === undefined) {
  console.error("usage: node typescript.mjs SCENARIO tcp://HOST:PORT");
  process.exit(2);
}

/** Prints what a promise settles to; its value, or undefined on an error. */
async function print(promise) {
  try {
    const value = await promise;
    console.log(String(value));
    return value;
  } catch (error) {
    console.log(`error:${error.code ?? error.name}`);
    console.error(String(error));
    return undefined;
  }
}

/** Prints a stream's items, then `end` or its error. */
async function readAll(iterator) {
  try {
    for (;;) {
      const { value, done } = await iterator.next();
      if (done) break;
      console.log(String(value));
    }
    console.log("end");
  } catch (error) {
    console.log(`error:${error.code ?? error.name}`);
    console.error(String(error));
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const reconnects = ["no_resend", "resend_idempotent"].includes(scenario);
const client = await connect(address, reconnects ? { reconnect: { initialDelayMs: 50 } } : {});
switch (scenario) {
  case "call":
  case "server_junk":
    await print(client.call("add", [1, 2]));
    break;
  case "timeout_cancel":
    await print(client.call("sleep", [5000], 300));
    break;
  case "late_reply":
    await print(client.call("sleep", [5000], 300));
    await print(client.call("add", [2, 2]));
    break;
  case "malformed_reply":
    await print(client.call("add", [1, 2]));
    await print(client.call("add", [3, 4]));
    break;
  case "stream_credit": {
    let taken = 0;
    try {
      for await (const item of client.stream("count", [20, 0], { window: 4 })) {
        console.log(String(item));
        taken += 1;
        await sleep(10);
      }
      console.log(String(taken));
      console.log("end");
    } catch (error) {
      console.log(`error:${error.code ?? error.name}`);
    }
    break;
  }
  case "upload_credit": {
    const sum = client.upload("sum");
    for (let i = 1; i <= 20; i++) await sum.send(i);
    await print(sum.finish());
    break;
  }
  case "closed_mid_stream":
    await readAll(client.stream("count", [10, 0], { window: 8 })[Symbol.asyncIterator]());
    break;
  case "stream_stop": {
    let taken = 0;
    for await (const item of client.stream("count", [100, 0], { window: 4 })) {
      console.log(String(item));
      if (++taken === 2) break;
    }
    console.log("stopped");
    await print(client.call("add", [1, 2]));
    break;
  }
  case "stream_overrun": {
    const items = client.stream("count", [10, 0], { window: 4 })[Symbol.asyncIterator]();
    const first = await items.next();
    console.log(String(first.value));
    await sleep(1500);
    await readAll(items);
    await print(client.call("add", [1, 2]));
    break;
  }
  case "resend_idempotent": {
    const once = client.call("sleep", [300]);
    const again = client.call("add", [5, 5], 10_000, { idempotent: true });
    await print(once);
    await print(again);
    break;
  }
  case "no_resend": {
    const back = new Promise((resolve) => {
      let connections = 0;
      client.onStatus((status) => {
        if (status.type === "connected" && ++connections === 1) resolve();
      });
    });
    await print(client.call("sleep", [300]));
    await back;
    await print(client.call("add", [1, 1], 10_000));
    break;
  }
  default:
    console.error(`unknown scenario \`${scenario}\``);
    process.exit(2);
}
// What the scenario sent (a cancel) leaves before the connection does.
await sleep(100);
client.close();
