// Peers of bench/conntrack-churn.ts, run inside pod namespaces.
//   server NAME PORT           answers each line on a connection with NAME; never closes idle ones
//   client HOST PORT COUNT     opens COUNT connections, asks each once, prints READY <json names>;
//                              on the stdin line "again" asks each once more over the same
//                              connection and prints DONE <json [{name} | {error}]>
import net from 'node:net';
import readline from 'node:readline';

const [mode, a, b, c] = process.argv.slice(2);
if (mode === 'server') {
  net.createServer((s) => {
    s.setNoDelay(true);
    readline.createInterface({ input: s }).on('line', () => s.write(`${a}\n`)).on('error', () => {});
    s.on('error', () => {});
  }).listen(Number(b), () => console.log('LISTENING'));
} else {
  const count = Number(c);
  const conns = [];
  const ask = (conn) =>
    new Promise((resolve) => {
      const done = (r) => { clearTimeout(t); conn.pending = undefined; resolve(r); };
      const t = setTimeout(() => done({ error: 'timeout' }), 5000);
      conn.pending = done;
      if (conn.failed) return done({ error: conn.failed });
      conn.s.write('?\n');
    });
  for (let i = 0; i < count; i++) {
    const s = net.connect(Number(b), a);
    const conn = { s, pending: undefined, failed: undefined };
    s.setNoDelay(true);
    // A reset reaches both the socket and its line reader: each reports it once, via failed.
    readline.createInterface({ input: s }).on('line', (l) => conn.pending?.({ name: l })).on('error', () => {});
    s.on('error', (e) => { conn.failed = e.code ?? String(e); conn.pending?.({ error: conn.failed }); });
    s.on('close', () => { conn.failed ??= 'closed'; conn.pending?.({ error: conn.failed }); });
    conns.push(conn);
  }
  const first = await Promise.all(conns.map(ask));
  console.log(`READY ${JSON.stringify(first)}`);
  readline.createInterface({ input: process.stdin }).on('line', async (l) => {
    if (l.trim() !== 'again') return;
    console.log(`DONE ${JSON.stringify(await Promise.all(conns.map(ask)))}`);
    process.exit(0);
  });
}
