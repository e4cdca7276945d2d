// The baseline receiver of the upload benchmark, run as its own process: accepts one TLS 1.3
// connection, writes what arrives to a file while hashing it, syncs the file once at the end (the
// least a durable receiver must do), and prints {bytes, sha256} as JSON on stdout.
// Usage: node --import tsx raw-tls-receiver.ts CERT KEY OUTFILE (prints the port on its first line)

import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:tls';

const [certPath, keyPath, outPath] = process.argv.slice(2);
if (!certPath || !keyPath || !outPath) throw new Error('usage: raw-tls-receiver CERT KEY OUTFILE');

const server = createServer(
  { cert: readFileSync(certPath), key: readFileSync(keyPath), minVersion: 'TLSv1.3' },
  (socket) => {
    const fd = openSync(outPath, 'w');
    const hash = createHash('sha256');
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => {
      writeSync(fd, chunk);
      hash.update(chunk);
      bytes += chunk.length;
    });
    socket.once('end', () => {
      fsyncSync(fd);
      closeSync(fd);
      const sha256 = hash.digest('hex');
      socket.end(JSON.stringify({ bytes, sha256 }));
      console.log(JSON.stringify({ bytes, sha256 }));
      server.close();
    });
  },
);
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  console.log(typeof address === 'object' && address ? address.port : 0);
});
