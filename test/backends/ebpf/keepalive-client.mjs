// One keep-alive HTTP connection: sends a request at connect and one more per stdin line;
// prints `BODY <body>` per response, `ERROR <code>` or `CLOSED` when the connection ends.
import net from 'node:net';
import readline from 'node:readline';
import { onResponses } from './http-responses.mjs';

const [host, port] = process.argv.slice(2);
const s = net.connect(Number(port), host);
const request = () => s.write('GET / HTTP/1.1\r\nHost: vip\r\nConnection: keep-alive\r\n\r\n');
s.on('connect', request);
onResponses(s, (body) => console.log(`BODY ${body}`));
s.on('error', (e) => {
  console.log(`ERROR ${e.code}`);
  process.exit(0);
});
s.on('close', () => {
  console.log('CLOSED');
  process.exit(0);
});
readline.createInterface({ input: process.stdin }).on('line', request);
