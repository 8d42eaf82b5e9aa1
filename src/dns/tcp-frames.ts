// DNS over TCP carries each message behind a two-octet length (RFC 1035 4.2.2): the server
// reads queries that way and the forwarder reads the upstream's answer the same way.

/** One message with its length prefix. */
export function frame(msg: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(msg.length);
  return Buffer.concat([len, msg]);
}

/** Collects stream chunks and gives back each whole message as it completes. */
export class FrameReader {
  private buf = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    while (this.buf.length >= 2 && this.buf.length >= 2 + this.buf.readUInt16BE(0)) {
      const end = 2 + this.buf.readUInt16BE(0);
      out.push(this.buf.subarray(2, end));
      this.buf = this.buf.subarray(end);
    }
    return out;
  }
}
