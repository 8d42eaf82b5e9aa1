// One TCP connect: prints CONNECTED or the error code (ECONNREFUSED for a RST, EHOSTUNREACH
// for ICMP, …), or TIMEOUT. Tells "rejected" apart from "no route", which curl does not.
import net from 'node:net';

const [host, port, timeoutMs = '2000'] = process.argv.slice(2);
const done = (out) => {
  console.log(out);
  process.exit(0);
};
setTimeout(() => done('TIMEOUT'), Number(timeoutMs));
const s = net.connect(Number(port), host, () => done('CONNECTED'));
s.on('error', (e) => done(e.code ?? String(e)));
