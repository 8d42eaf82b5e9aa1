// Pod stand-in: answers its name over HTTP (TCP 9376) and UDP (9376). Prints "ready".
import http from 'node:http';
import dgram from 'node:dgram';

const name = process.argv[2] ?? 'pod';
const srv = http.createServer((req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(name);
});
const udp = dgram.createSocket('udp4');
udp.on('message', (_msg, rinfo) => udp.send(name, rinfo.port, rinfo.address));
let pending = 2;
const ready = () => --pending === 0 && console.log('ready');
srv.listen(9376, '0.0.0.0', ready);
udp.bind(9376, '0.0.0.0', ready);
