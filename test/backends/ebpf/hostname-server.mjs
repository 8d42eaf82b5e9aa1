// Pod stand-in: answers its name over HTTP (TCP 9376) and UDP (9376). Prints "ready".
// `hostname-server.mjs NAME dual`: listens on both families (IPv6 sockets that take IPv4 too).
import http from 'node:http';
import dgram from 'node:dgram';

const name = process.argv[2] ?? 'pod';
const dual = process.argv[3] === 'dual';
const srv = http.createServer((req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(name);
});
const udp = dgram.createSocket(dual ? { type: 'udp6', ipv6Only: false } : 'udp4');
udp.on('message', (_msg, rinfo) => udp.send(name, rinfo.port, rinfo.address));
let pending = 2;
const ready = () => --pending === 0 && console.log('ready');
srv.listen({ port: 9376, host: dual ? '::' : '0.0.0.0', ipv6Only: false }, ready);
udp.bind(9376, dual ? '::' : '0.0.0.0', ready);
