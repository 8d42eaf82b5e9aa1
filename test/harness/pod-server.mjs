// A pod's workload: answers its own name over HTTP and UDP on one port (like the
// e2e "serve-hostname" image). Runs inside the pod's netns via `ip netns exec`.
//   GET /          → the name
//   GET /clientip  → the peer address as the server saw it (source-IP preservation)
//   POST /echo     → "<name> <bytes received>" (large requests)
//   GET /download/N → N bytes, with the name in an x-pod header (bulk transfers)
//   UDP datagram   → the name; a datagram of more than 100 bytes → "<name> <bytes received>",
//                    padded to as many bytes as it had (large datagrams: IP fragments each way)
import { createServer } from 'node:http';
import { createSocket } from 'node:dgram';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { name: { type: 'string' }, port: { type: 'string', default: '9376' } } });
const name = values.name ?? 'unnamed';
const port = Number(values.port);

const http = createServer((req, res) => {
  if (req.url === '/clientip') return res.end(req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '');
  if (req.url === '/echo') {
    let n = 0;
    req.on('data', (b) => (n += b.length));
    req.on('end', () => res.end(`${name} ${n}`));
    return;
  }
  const download = /^\/download\/(\d+)$/.exec(req.url ?? '');
  if (download) {
    let left = Number(download[1]);
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    res.writeHead(200, { 'content-length': left, 'x-pod': name });
    const pump = () => {
      while (left > 0) {
        const c = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= c.length;
        if (!res.write(c)) return void res.once('drain', pump);
      }
      res.end();
    };
    return pump();
  }
  res.end(name);
});
http.keepAliveTimeout = 60_000;

let pending = 3;
const ready = () => {
  if (--pending === 0) process.stdout.write('ready\n');
};
http.listen({ port, host: '::', ipv6Only: false }, ready);
for (const type of ['udp4', 'udp6']) {
  const sock = createSocket({ type, ipv6Only: type === 'udp6' });
  sock.on('message', (msg, rinfo) => {
    if (msg.length <= 100) return sock.send(name, rinfo.port, rinfo.address);
    const head = Buffer.from(`${name} ${msg.length}`);
    const big = Buffer.alloc(msg.length, 0x20);
    head.copy(big);
    sock.send(big, rinfo.port, rinfo.address);
  });
  sock.bind(port, type === 'udp4' ? '0.0.0.0' : '::', ready);
}
process.on('SIGTERM', () => process.exit(0));
