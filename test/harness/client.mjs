// Client driver run inside a client netns: N requests to a target, one new connection
// (or UDP socket) each, so every request is a new flow for the load balancer.
// Prints one JSON array: [{ ok, body?, error?, ms }].
//   --target ip:port | [v6]:port   --proto tcp|udp   --count N   --timeout ms
//   --interval ms   --path /   --bytes N (POST /echo with N bytes; udp: an N-byte datagram, and
//     the body reported is "<pod> <bytes it received> <bytes answered>")
//   --download N (GET N bytes; the body reported is "<pod> <bytes received>")
//   --keep-alive: all requests over ONE TCP connection, or (udp) ONE connected socket: one flow
//   --reconnect (udp --keep-alive): after an error from the kernel (not a timeout), the next
//     request connects a new socket, as a client that handles ECONNABORTED/ECONNREFUSED does
//   --local-address IP (tcp): the source address of every request (one of the namespace's own)
//   --progress FILE: append one JSON line per finished request (a test waits on it while
//     the loop runs)   --stop-file FILE: stop before the next request once FILE exists
import { appendFileSync, existsSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { parseArgs } from 'node:util';

const { values: v } = parseArgs({
  options: {
    target: { type: 'string' },
    proto: { type: 'string', default: 'tcp' },
    count: { type: 'string', default: '1' },
    timeout: { type: 'string', default: '2000' },
    interval: { type: 'string', default: '0' },
    path: { type: 'string', default: '/' },
    bytes: { type: 'string', default: '0' },
    download: { type: 'string', default: '0' },
    'keep-alive': { type: 'boolean', default: false },
    reconnect: { type: 'boolean', default: false },
    'local-address': { type: 'string' },
    progress: { type: 'string' },
    'stop-file': { type: 'string' },
  },
});
const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(v.target ?? '');
if (!m) {
  process.stderr.write('client: --target ip:port required\n');
  process.exit(2);
}
const [host, port] = [m[1], Number(m[2])];
const timeout = Number(v.timeout);
const count = Math.min(Number(v.count), 100_000);

function classify(e) {
  if (e.code === 'ECONNREFUSED') return 'refused';
  if (e.code === 'ECONNRESET') return 'reset';
  if (e.code === 'EHOSTUNREACH' || e.code === 'ENETUNREACH') return 'unreachable';
  return e.code ?? e.message;
}

const keepAlive = v['keep-alive'] ? new Agent({ keepAlive: true, maxSockets: 1 }) : undefined;
let sockets = 0;

function tcpOnce() {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const bytes = Number(v.bytes);
    const download = Number(v.download);
    const req = request(
      {
        host,
        port,
        path: bytes > 0 ? '/echo' : download > 0 ? `/download/${download}` : v.path,
        method: bytes > 0 ? 'POST' : 'GET',
        agent: keepAlive ?? false,
        ...(v['local-address'] ? { localAddress: v['local-address'] } : {}),
        headers: keepAlive ? {} : { connection: 'close' },
        timeout,
      },
      (res) => {
        if (download > 0) {
          let n = 0;
          res.on('data', (c) => (n += c.length));
          res.on('end', () => resolve({ ok: true, body: `${res.headers['x-pod']} ${n}`, ms: performance.now() - t0 }));
          return;
        }
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ ok: true, body, ms: performance.now() - t0 }));
      },
    );
    req.on('socket', (s) => {
      if (!s.bpfproxySeen) {
        s.bpfproxySeen = true;
        sockets++;
      }
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
    req.on('error', (e) => resolve({ ok: false, error: classify(e), ms: performance.now() - t0 }));
    req.end(bytes > 0 ? Buffer.alloc(bytes, 0x61) : undefined);
  });
}

function udpOnce() {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const sock = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    const done = (r) => {
      clearTimeout(timer);
      sock.close();
      resolve({ ...r, ms: performance.now() - t0 });
    };
    const timer = setTimeout(() => done({ ok: false, error: 'timeout' }), timeout);
    const bytes = Number(v.bytes);
    sock.on('message', (msg) => done({ ok: true, body: bytes > 0 ? `${msg.toString().trimEnd()} ${msg.length}` : msg.toString() }));
    // ICMP port unreachable surfaces as ECONNREFUSED on a connected UDP socket.
    sock.on('error', (e) => done({ ok: false, error: classify(e) }));
    sock.connect(port, host, () => sock.send(bytes > 0 ? Buffer.alloc(bytes, 0x71) : 'hello'));
  });
}

// One UDP socket for every datagram: the same 5-tuple, i.e. one conntrack flow. Errors that
// arrive between requests (a socket closed by the proxy reports one unasked) are kept for
// the next request, which reports them at once.
let udpFlow;
let udpConnected = false;
let udpCurrent;
let udpPending;
function openUdpFlow() {
  const s = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
  udpFlow = s;
  udpConnected = false;
  s.on('message', (msg) => s === udpFlow && udpCurrent?.onMsg(msg));
  s.on('error', (e) => {
    if (s !== udpFlow) return;
    if (udpCurrent) udpCurrent.onErr(e);
    else udpPending ??= e;
  });
  s.connect(port, host, () => (udpConnected = true));
}
function udpFlowOnce() {
  if (!udpFlow) openUdpFlow();
  return new Promise((resolve) => {
    const t0 = performance.now();
    let timer;
    const done = (r) => {
      clearTimeout(timer);
      udpCurrent = undefined;
      if (!r.ok && r.error !== 'timeout' && v.reconnect) {
        udpFlow.close();
        udpFlow = undefined;
      }
      resolve({ ...r, ms: performance.now() - t0 });
    };
    if (udpPending) {
      const e = udpPending;
      udpPending = undefined;
      return done({ ok: false, error: classify(e) });
    }
    udpCurrent = { onMsg: (msg) => done({ ok: true, body: msg.toString() }), onErr: (e) => done({ ok: false, error: classify(e) }) };
    timer = setTimeout(() => done({ ok: false, error: 'timeout' }), timeout);
    const send = () => udpFlow.send('hello');
    if (udpConnected) send();
    else udpFlow.once('connect', send);
  });
}

const results = [];
for (let i = 0; i < count; i++) {
  if (v['stop-file'] && existsSync(v['stop-file'])) break;
  const once = v.proto === 'udp' ? (v['keep-alive'] ? udpFlowOnce : udpOnce) : tcpOnce;
  const r = await once();
  results.push(r);
  if (v.progress) appendFileSync(v.progress, JSON.stringify(r) + '\n');
  const gap = Number(v.interval);
  if (gap > 0 && i < count - 1) await new Promise((r) => setTimeout(r, gap));
}
keepAlive?.destroy();
udpFlow?.close();
// With --keep-alive, `sockets` > 1 means the connection broke and was re-opened.
if (keepAlive) results.forEach((r) => (r.sockets = sockets));
process.stdout.write(JSON.stringify(results) + '\n');
