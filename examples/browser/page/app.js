// The page's script: the TypeScript client, as plain JavaScript modules.
import { RpcError, connect } from "@dotrpc/client";

const show = (id, text) => {
  document.getElementById(id).textContent = text;
};

async function main() {
  const client = await connect(`ws://${location.host}/rpc`, { timeoutMs: 5000, reconnect: true });
  show("status", "connected");
  client.onStatus((status) => show("status", status.type));

  // The server's calls to this page.
  client.serve({ client: { name: () => "the browser page" } });

  show("add", String(await client.api.add(40, 2)));
  show("mean", String(await client.api.math.stats.mean([1, 2, 6])));
  try {
    await client.api.math.div(1, 0);
    show("error", "no error?");
  } catch (error) {
    show("error", error instanceof RpcError ? `${error.code}: ${error.message}` : `unexpected: ${error}`);
  }
  show("greet", await client.api.greet());

  // A stream: items as the server sends them, one every 50 ms.
  const counted = [];
  for await (const n of client.stream("count", [3, 50])) {
    counted.push(n);
    show("stream", counted.join(" "));
  }

  const ticks = [];
  client.on("events.tick", (i) => {
    ticks.push(i);
    show("events", ticks.join(" "));
    if (ticks.length === 3) document.body.dataset.done = "yes";
  });
  client.api.events.subscribe.notify(3);
}

main().catch((error) => {
  show("status", `failed: ${error}`);
  document.body.dataset.done = "failed";
});
