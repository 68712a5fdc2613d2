'use strict';
// Echo server on a published ws version: node echo.js <package-alias> <port>
// e.g. node echo.js ws-7.4.5 8080. Listens on 127.0.0.1:<port>, runs until killed.
// Written the way the ws README teaches: an http server of our own (header limit raised
// to 1 MiB, as apps with big cookies do), a WebSocketServer attached to it, an 'error'
// handler on each socket, every message sent back as it came (text as text, binary as binary).
const http = require('http');

const [alias, port] = process.argv.slice(2);
if (!alias || !port) {
  console.error('usage: node echo.js <package-alias> <port>');
  process.exit(2);
}
const WebSocket = require(alias);
// ws 8 exports WebSocketServer; ws 7 exports it as WebSocket.Server.
const WebSocketServer = WebSocket.WebSocketServer || WebSocket.Server;

const server = http.createServer({ maxHeaderSize: 1 << 20 }, (req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.end('ok\n');
});
const wss = new WebSocketServer({ server });

wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    // ws 8 passes isBinary; ws 7 passes a string for text and a Buffer for binary.
    ws.send(data, { binary: isBinary === undefined ? typeof data !== 'string' : isBinary });
  });
});

server.listen(Number(port), '127.0.0.1');
