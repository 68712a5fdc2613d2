'use strict';
// A server with a planted bug (no published pair): node trusts_headers.js <port>
// It does the WebSocket upgrade by hand and trusts the headers it was given. Node keeps
// only the first server.maxHeadersCount headers of a request (set to 2000 below; left
// unset, Node 20 keeps 1000), so a request with 1997 or more headers before the five a
// handshake needs reaches the handler without Sec-WebSocket-Key, and `.trim()` on
// undefined throws an uncaught TypeError that ends the process. The byte limit is raised
// to 1 MiB (as apps with big cookies do) so that the count, not the size, is what matters.
// After the 101 it echoes nothing: it answers any frame with a close (1000) and ends.
const http = require('http');
const crypto = require('crypto');

const port = Number(process.argv[2]);
if (!port) {
  console.error('usage: node trusts_headers.js <port>');
  process.exit(2);
}
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

const server = http.createServer({ maxHeaderSize: 1 << 20 }, (req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.end('ok\n');
});

server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => {});
  const key = req.headers['sec-websocket-key'].trim();
  if (req.headers.upgrade.toLowerCase() !== 'websocket') {
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    return;
  }
  const accept = crypto.createHash('sha1').update(key + GUID).digest('base64');
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\n' +
      'Upgrade: websocket\r\n' +
      'Connection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\n\r\n`
  );
  const close = () => socket.end(Buffer.from([0x88, 0x02, 0x03, 0xe8]));
  if (head.length > 0) close();
  else socket.once('data', close);
});

server.maxHeadersCount = 2000;
server.listen(port, '127.0.0.1');
