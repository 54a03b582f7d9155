// Bad input against /socket.io/, then proof that the gateway still serves.
// Run against a gateway started with --socketio-max-payload 10000.
//
//   node sio-bad.mjs http://CLIENT http://ADMIN
//
// - unknown sid, EIO=3, unknown transport: 400 with the reference's JSON;
// - two concurrent GET polls on one session: the second gets 400 and the
//   session is closed (the next request gets "Session ID unknown");
// - a POST larger than maxPayload: 413, and the session is closed;
// - a malformed Socket.IO packet over a raw WebSocket: the socket closes;
// - a WebSocket message larger than maxPayload: the socket closes;
// - then a normal client connects, subscribes and gets its ack.
import WebSocket from 'ws';
import { io, urls, fail, step, done, emitAck } from './sio-lib.mjs';

const { client } = urls();
const base = `${client}/socket.io/?EIO=4`;

async function get(url, init) {
  const r = await fetch(url, init);
  return { status: r.status, body: await r.text() };
}

async function expectError(url, code, init) {
  const r = await get(url, init);
  let body;
  try {
    body = JSON.parse(r.body);
  } catch {
    fail(`${url}: body is not JSON: ${r.body}`);
  }
  if (r.status !== 400 || body.code !== code || typeof body.message !== 'string') {
    fail(`${url}: expected 400 code ${code}, got ${r.status} ${r.body}`);
  }
  return body;
}

async function handshake() {
  const r = await get(`${base}&transport=polling`);
  if (r.status !== 200 || r.body[0] !== '0') fail(`handshake: ${r.status} ${r.body}`);
  const open = JSON.parse(r.body.slice(1));
  if (!open.sid || JSON.stringify(open.upgrades) !== '["websocket"]' || open.maxPayload !== 10000) {
    fail(`open packet: ${r.body}`);
  }
  return open;
}

const results = {};
results.badSid = await expectError(`${base}&transport=polling&sid=nope`, 1);
results.badVersion = await expectError(`${client}/socket.io/?EIO=3&transport=polling`, 5);
results.badTransport = await expectError(`${base}&transport=carrier-pigeon`, 0);
results.badHandshake = await expectError(`${base}&transport=polling`, 2, { method: 'POST', body: '40' });
step('errors', results);

// Concurrent polls.
{
  const { sid } = await handshake();
  const url = `${base}&transport=polling&sid=${sid}`;
  const first = get(url);
  await new Promise((r) => setTimeout(r, 200));
  const second = await get(url);
  if (second.status !== 400) fail(`second concurrent poll: ${second.status} ${second.body}`);
  const firstDone = await first;
  if (firstDone.body !== '1') fail(`the pending poll should end with a close packet, got ${firstDone.status} ${firstDone.body}`);
  await new Promise((r) => setTimeout(r, 100));
  results.afterOverlap = await expectError(url, 1);
  step('overlap');
}

// Oversized POST.
{
  const { sid } = await handshake();
  const url = `${base}&transport=polling&sid=${sid}`;
  const r = await get(url, { method: 'POST', body: '4' + 'x'.repeat(20000) });
  if (r.status !== 413) fail(`oversized POST: ${r.status}`);
  await new Promise((r) => setTimeout(r, 100));
  results.afterTooLarge = await expectError(url, 1);
  step('too large');
}

// Raw WebSocket: a malformed packet, then an oversized message.
async function rawWs(send) {
  const ws = new WebSocket(`${base.replace('http', 'ws')}&transport=websocket`);
  const frames = [];
  ws.on('message', (m) => frames.push(m.toString()));
  await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
  ws.send('40');
  await new Promise((r) => setTimeout(r, 200));
  if (!frames[0]?.startsWith('0{') || !frames[1]?.startsWith('40{')) fail(`raw ws handshake: ${JSON.stringify(frames)}`);
  const closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  ws.send(send);
  const code = await Promise.race([closed, new Promise((r) => setTimeout(() => r('still open'), 3000))]);
  if (code === 'still open') fail(`the socket stayed open after ${send.slice(0, 40)}`);
  return code;
}
results.malformedClose = await rawWs('42{"not":"an array"}');
results.reservedClose = await rawWs('42["disconnect"]');
results.oversizedClose = await rawWs('42["x","' + 'y'.repeat(20000) + '"]');
step('raw ws', results);

// The gateway still serves.
const socket = io(client);
socket.on('connect_error', (e) => fail(`connect_error: ${e.message}`));
const ack = await emitAck(socket, 'subscribe', 'sales');
if (ack.room !== 'dashboard:sales') fail(`subscribe ack: ${JSON.stringify(ack)}`);
results.stillServing = ack;
done(results);
