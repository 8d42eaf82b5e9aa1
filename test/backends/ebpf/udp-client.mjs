// One UDP request over a connected socket: prints the answer, or the error code (e.g.
// ECONNREFUSED when an ICMP port unreachable came back). Exits within the timeout.
import dgram from 'node:dgram';

// `--unconnected`: sendto() each time and print the answer's source (checks recvmsg rewriting).
const unconnected = process.argv.includes('--unconnected');
const [host, port, timeoutMs = '2000'] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
const done = (out) => {
  console.log(out);
  s.close();
  process.exit(0);
};
setTimeout(() => done('TIMEOUT'), Number(timeoutMs));
s.on('error', (e) => done(e.code ?? String(e)));
s.on('message', (m, rinfo) => done(unconnected ? `ANSWER ${m.toString()} FROM ${rinfo.address}:${rinfo.port}` : `ANSWER ${m.toString()}`));
if (unconnected) s.send('hi', Number(port), host);
else s.connect(Number(port), host, () => s.send('hi'));
