// Splits an HTTP/1.1 keep-alive stream into response bodies (Content-Length framed), for the
// small socket clients of the eBPF kernel tests.
export function onResponses(socket, onBody) {
  let buf = '';
  socket.on('data', (d) => {
    buf += d.toString();
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/content-length:\s*(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (buf.length < end + 4 + len) return;
      onBody(buf.slice(end + 4, end + 4 + len));
      buf = buf.slice(end + 4 + len);
    }
  });
}
