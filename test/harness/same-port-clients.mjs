// Many clients on ONE source port, as many hosts behind different addresses would be: one
// TCP connection per local address, all bound to the same port and all open at once, then
// `rounds` HTTP requests on each. Every request POSTs a body of a size no other request
// uses, so an answer ("<pod> <bytes>", pod-server.mjs /echo) names the request it belongs to.
//   --target ip:port --local-port N --from a,b,c --rounds N --timeout ms
// Prints one JSON object per client: { from, answers: string[], error? }.
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values: v } = parseArgs({
  options: {
    target: { type: 'string' },
    'local-port': { type: 'string' },
    from: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    timeout: { type: 'string', default: '5000' },
  },
});
const [host, portText] = (v.target ?? '').split(':');
const port = Number(portText);
const localPort = Number(v['local-port']);
const from = (v.from ?? '').split(',').filter(Boolean);
const rounds = Number(v.rounds);
const timeoutMs = Number(v.timeout);

/** Size of client i's body in round r: unique per (i, r). */
const bodySize = (i, r) => 1000 + i * 16 + r;

class Conn {
  constructor(localAddress) {
    this.from = localAddress;
    this.answers = [];
    this.buf = Buffer.alloc(0);
    this.waiter = undefined;
  }

  open() {
    return new Promise((resolve) => {
      const s = net.connect({ host, port, localAddress: this.from, localPort });
      const timer = setTimeout(() => {
        this.error = `connect timeout after ${timeoutMs} ms`;
        s.destroy();
        resolve();
      }, timeoutMs);
      s.on('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      s.on('data', (d) => {
        this.buf = Buffer.concat([this.buf, d]);
        this.waiter?.();
      });
      s.on('error', (e) => {
        clearTimeout(timer);
        this.error ??= e.code ?? e.message;
        this.waiter?.();
        resolve();
      });
      s.on('close', () => this.waiter?.());
      this.sock = s;
    });
  }

  /** One complete response (Content-Length framed) off the buffer, or undefined. */
  take() {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const head = this.buf.subarray(0, end).toString();
    const len = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? NaN);
    if (!Number.isFinite(len) || this.buf.length < end + 4 + len) return undefined;
    const body = this.buf.subarray(end + 4, end + 4 + len).toString();
    this.buf = this.buf.subarray(end + 4 + len);
    return body;
  }

  request(size) {
    if (this.error) return Promise.resolve();
    this.sock.write(`POST /echo HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${size}\r\n\r\n${'x'.repeat(size)}`);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.error = `no answer within ${timeoutMs} ms`;
        this.waiter = undefined;
        resolve();
      }, timeoutMs);
      this.waiter = () => {
        const body = this.take();
        if (body === undefined && !this.error && !this.sock.destroyed) return;
        clearTimeout(timer);
        this.waiter = undefined;
        if (body !== undefined) this.answers.push(body);
        else this.error ??= 'connection closed';
        resolve();
      };
      this.waiter();
    });
  }
}

const conns = from.map((a) => new Conn(a));
await Promise.all(conns.map((c) => c.open()));
for (let r = 0; r < rounds; r++) await Promise.all(conns.map((c, i) => c.request(bodySize(i, r))));
for (const c of conns) c.sock?.destroy();
process.stdout.write(JSON.stringify(conns.map((c) => ({ from: c.from, answers: c.answers, ...(c.error ? { error: c.error } : {}) }))) + '\n');
