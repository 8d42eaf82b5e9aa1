// One long-lived client socket, driven line by line on stdin (no timers): how a connected
// client sees its Service while backends come and go.
//   conn-client.mjs tcp|udp HOST PORT
// At start it connects and prints `CONNECTED <peer ip>:<port>` (getpeername(), which the
// socket LB translates back to the Service). Each stdin line is a command:
//   send       one request (HTTP GET on TCP, a datagram on UDP) → `ANSWER <pod>`
//   reconnect  a new socket, connected like the first → `CONNECTED …`
// An error on the socket, asked for or not (a destroyed socket reports one at once), prints
// `ERROR <code> <epoch ms>` so the test can time it.
import dgram from 'node:dgram';
import net from 'node:net';
import readline from 'node:readline';
import { onResponses } from './http-responses.mjs';

const [proto, host, port] = process.argv.slice(2);
const now = () => (performance.timeOrigin + performance.now()).toFixed(1);
let sock;

function connect() {
  if (proto === 'udp') {
    const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    sock = s;
    s.on('message', (m) => s === sock && console.log(`ANSWER ${m.toString()}`));
    s.on('error', (e) => s === sock && console.log(`ERROR ${e.code} ${now()}`));
    s.connect(Number(port), host, () => {
      const p = s.remoteAddress();
      console.log(`CONNECTED ${p.address}:${p.port}`);
    });
    return;
  }
  const s = net.connect(Number(port), host);
  sock = s;
  s.on('connect', () => console.log(`CONNECTED ${s.remoteAddress}:${s.remotePort}`));
  onResponses(s, (body) => console.log(`ANSWER ${body}`));
  s.on('error', (e) => s === sock && console.log(`ERROR ${e.code} ${now()}`));
  s.on('close', () => s === sock && console.log('CLOSED'));
}

function send() {
  if (proto === 'udp') sock.send('hi');
  else sock.write('GET / HTTP/1.1\r\nHost: vip\r\nConnection: keep-alive\r\n\r\n');
}

connect();
readline.createInterface({ input: process.stdin }).on('line', (l) => {
  if (l === 'send') send();
  else if (l === 'reconnect') {
    const old = sock;
    connect();
    if (proto === 'udp') old.close();
    else old.destroy();
  }
});
