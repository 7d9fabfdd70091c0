// A msgpack-rpc peer built on a published Node library, msgpack5rpc, to prove
// that dotrpc speaks the wire exactly with an implementation nobody on the
// project wrote.
//
//   node peer.js client HOST PORT   call a dotrpc demo server, check every answer
//   node peer.js server             serve one dotrpc client; prints "LISTENING PORT"
//
// Exit status 0 means every check passed; failures are printed to stderr.
'use strict';

const assert = require('assert');
const net = require('net');
const Session = require('msgpack5rpc');

const failures = [];

function check(name, got, expected) {
  try {
    assert.deepStrictEqual(got, expected);
  } catch (e) {
    failures.push(`${name}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
  }
}

function finish() {
  for (const failure of failures) console.error(failure);
  process.exit(failures.length ? 1 : 0);
}

// Nothing here may run longer than this; a hang is a failure.
setTimeout(() => {
  failures.push('timed out');
  finish();
}, 10000).unref();

function connect(host, port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port }, () => resolve(socket));
    socket.on('error', reject);
  });
}

async function runClient(host, port) {
  const socket = await connect(host, port);
  const session = new Session();
  session.attach(socket, socket);
  const call = (method, args) =>
    new Promise((resolve) => session.request(method, args, (err, res) => resolve([err, res])));
  const notifications = [];
  let notified = null;
  session.on('notification', (method, args) => {
    notifications.push([method, args]);
    if (notified) notified();
  });

  check('add', await call('add', [40, 2]), [null, 42]);
  check('nested path', await call('math.stats.mean', [[1.5, 2.5, 5.5]]), [null, 3.1666666666666665]);
  const [divError] = await call('math.div', [1.5, 0]);
  check('typed error', [divError.code, divError.message], ['Application', 'division by zero']);
  const [unknown] = await call('no.such.method', []);
  check('unknown method', unknown.code, 'UnknownApi');
  const [arity] = await call('add', [1]);
  check('wrong arity', [arity.code, arity.message], ['InvalidParams', 'add expects 2 params, got 1']);

  const nested = { name: 'x', bytes: Buffer.from([0, 255, 7]), list: [1, -2, 3.5, null, true], map: { inner: { deep: 'yes' } } };
  check('echo nested map and binary', await call('echo', [nested]), [null, nested]);

  // Pipelined calls are answered as they finish, not in the order sent.
  const order = [];
  const slow = call('sleep', [200]).then(() => order.push('slow'));
  const fast = call('sleep', [0]).then(() => order.push('fast'));
  await Promise.all([slow, fast]);
  check('out-of-order replies', order, ['fast', 'slow']);

  // Notifications both ways.
  const [, before] = await call('stats.notifications', []);
  for (const line of ['a', 'b', 'c']) session.notify('log', [line]);
  let count = before;
  for (let attempt = 0; attempt < 100 && count < before + 3; attempt++) {
    [, count] = await call('stats.notifications', []);
    if (count < before + 3) await new Promise((r) => setTimeout(r, 10));
  }
  check('notifications counted', count, before + 3);
  const ticks = new Promise((resolve) => {
    notified = () => notifications.length >= 3 && resolve();
  });
  session.notify('events.subscribe', [3]);
  await ticks;
  check('events pushed by the server', notifications, [0, 1, 2].map((i) => ['events.tick', [i]]));

  socket.end();
}

function runServer() {
  const server = net.createServer((socket) => {
    server.close();
    const session = new Session();
    session.attach(socket, socket);
    session.on('notification', (method, args) => {
      if (method === 'greet') session.notify('greeting', [`hello, ${args[0]}`]);
    });
    session.on('request', (method, args, response) => {
      switch (method) {
        case 'add':
          return response.send(args[0] + args[1]);
        case 'math.div':
          return args[1] === 0
            ? response.send('division by zero', true)
            : response.send(args[0] / args[1]);
        case 'echo':
          return response.send(args[0]);
        case 'slow_then_fast':
          // Answer a later call first: the client must match by msgid.
          return setTimeout(() => response.send(args[0]), args[1]);
        case 'ask_client':
          // Call the dotrpc client back before answering its call.
          return session.request('client.version', [], (err, version) => {
            check('callback error', err, null);
            response.send(`client says ${version}`);
          });
        default:
          return response.send(['NoMethodError', `unknown method ${method}`], true);
      }
    });
    socket.on('close', finish);
  });
  server.listen(0, '127.0.0.1', () => console.log(`LISTENING ${server.address().port}`));
}

if (process.argv[2] === 'client') {
  runClient(process.argv[3], Number(process.argv[4])).then(finish, (e) => {
    failures.push(`client failed: ${e.stack}`);
    finish();
  });
} else {
  runServer();
}
