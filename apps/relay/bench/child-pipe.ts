/**
 * The floor: a bare WebSocket ⇄ TCP pipe in Node (no validation, no reframing, no limits),
 * run as a child of bench/relay-bench.ts. Usage: tsx bench/child-pipe.ts <host-port>.
 */
import net from 'node:net';
import { WebSocketServer } from 'ws';
import { serveChildIpc } from './bench-common.ts';

const hostPort = Number(process.argv[2]);
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
wss.on('connection', (ws) => {
  const tcp = net.connect({ host: '127.0.0.1', port: hostPort });
  tcp.setNoDelay(true);
  ws.on('message', (data: Buffer) => tcp.write(data));
  tcp.on('data', (chunk) => ws.send(chunk));
  ws.on('close', () => tcp.end());
  ws.on('error', () => tcp.destroy());
  tcp.on('close', () => ws.close());
  tcp.on('error', () => ws.terminate());
});
wss.on('listening', () => {
  const port = (wss.address() as net.AddressInfo).port;
  serveChildIpc(port, () => new Promise((r) => wss.close(() => r())));
});
