// The notifications the demo server pushes, by name, with their params.
// rpc.describe tells what a server serves, not what it sends, so this one
// is written by hand.
export type DemoEvents = {
  "events.tick": [i: number];
};
