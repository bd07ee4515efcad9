// Run inside another network namespace (`nsenter -t PID -n node this-file HOST PORT`):
// connects to HOST:PORT there and hands the connected socket to the parent over the IPC
// channel, then exits. The parent keeps using the socket; the namespace stays private.
import net from 'node:net';

const [host, port] = process.argv.slice(2);
const socket = net.connect({ host, port: Number(port), pauseOnConnect: true }, () => {
  process.send({ type: 'connected' }, socket, {}, (err) => {
    socket.destroy();
    if (err) process.exitCode = 2;
    process.disconnect();
  });
});
socket.on('error', (e) => {
  process.send({ type: 'error', code: e.code, message: e.message }, () => process.disconnect());
});
