// Calibration server: the chat rooms of specs/chat.asyncapi.yaml on Node.js `ws`, as its README teaches; CALIBRATION_FLAW=broadcast_stops plants a broadcast loop that stops at the first dead client.
'use strict';

const http = require('http');
const { WebSocketServer, WebSocket } = require('ws');

const BROADCAST_STOPS = process.env.CALIBRATION_FLAW === 'broadcast_stops';
const rooms = new Map(['general', 'random'].map((name) => [name, { clients: new Set(), texts: [], count: 0 }]));

// JSON Schema's integer: a number with no fractional part (booleans are not numbers in JS).
const isInteger = (value) => typeof value === 'number' && Number.isInteger(value);

function handle(room, text) {
  let message;
  try {
    message = JSON.parse(text);
  } catch {
    return [{ type: 'error', reason: 'not JSON' }];
  }
  if (message === null || typeof message !== 'object' || Array.isArray(message)) {
    return [{ type: 'error', reason: 'not a JSON object' }];
  }
  const keys = Object.keys(message);
  if (message.type === 'say') {
    if (keys.length !== 2 || !keys.includes('text')) return [{ type: 'error', reason: 'say takes type and text' }];
    const said = message.text;
    // Characters as JSON Schema counts them: code points.
    if (typeof said !== 'string' || [...said].length < 1 || [...said].length > 500) {
      return [{ type: 'error', reason: 'text must be 1 to 500 characters' }];
    }
    room.count += 1;
    room.texts.push(said);
    room.texts.splice(0, Math.max(0, room.texts.length - 50));
    return [{ type: 'sent', id: room.count }, { type: 'said', text: said }];
  }
  if (message.type === 'history') {
    if (!keys.every((k) => k === 'type' || k === 'limit')) return [{ type: 'error', reason: 'history takes type and limit' }];
    const limit = 'limit' in message ? message.limit : 50;
    if (!isInteger(limit) || limit < 1 || limit > 50) {
      return [{ type: 'error', reason: 'limit must be an integer from 1 to 50' }];
    }
    return [{ type: 'recent', messages: room.texts.slice(-limit) }];
  }
  return [{ type: 'error', reason: 'unknown type' }];
}

function broadcast(room, sender, data) {
  for (const client of room.clients) {
    if (client === sender) continue;
    if (client.readyState !== WebSocket.OPEN) {
      if (BROADCAST_STOPS) break; // the planted bug
      continue;
    }
    client.send(data);
  }
}

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.end('chat rooms: connect to /chat/general or /chat/random\n');
});
const wss = new WebSocketServer({ noServer: true, maxPayload: 65536 });

// The room a request target names, if it is one we serve; a target that is no URL at all
// (`GET http://[::1/`) would make `new URL` throw, which in this handler ends the process.
function roomOf(target) {
  try {
    const { pathname } = new URL(target, 'ws://base.url');
    return pathname.startsWith('/chat/') ? rooms.get(pathname.slice('/chat/'.length)) : undefined;
  } catch {
    return undefined;
  }
}

function onSocketError() {
  this.destroy();
}

server.on('upgrade', (request, socket, head) => {
  socket.on('error', onSocketError);
  const room = roomOf(request.url);
  if (room === undefined) {
    socket.write('HTTP/1.1 404 Not Found\r\n\r\n');
    socket.destroy();
    return;
  }
  socket.removeListener('error', onSocketError);
  wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request, room));
});

wss.on('connection', (ws, request, room) => {
  ws.on('error', console.error);
  room.clients.add(ws);
  ws.on('close', () => room.clients.delete(ws));
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      ws.close(1003, 'text only');
      return;
    }
    const [reply, said] = handle(room, data.toString());
    ws.send(JSON.stringify(reply));
    if (said) broadcast(room, ws, JSON.stringify(said));
  });
});

server.listen(Number(process.argv[2]), '127.0.0.1');
