// One keep-alive HTTP connection: sends a request at connect and one more per stdin line;
// prints `BODY <body>` per response, `ERROR <code>` or `CLOSED` when the connection ends.
import net from 'node:net';
import readline from 'node:readline';

const [host, port] = process.argv.slice(2);
const s = net.connect(Number(port), host);
let buf = '';
const request = () => s.write('GET / HTTP/1.1\r\nHost: vip\r\nConnection: keep-alive\r\n\r\n');
s.on('connect', request);
s.on('data', (d) => {
  buf += d.toString();
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return;
  const len = Number(/content-length:\s*(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
  if (buf.length < end + 4 + len) return;
  console.log(`BODY ${buf.slice(end + 4, end + 4 + len)}`);
  buf = buf.slice(end + 4 + len);
});
s.on('error', (e) => {
  console.log(`ERROR ${e.code}`);
  process.exit(0);
});
s.on('close', () => {
  console.log('CLOSED');
  process.exit(0);
});
readline.createInterface({ input: process.stdin }).on('line', request);
