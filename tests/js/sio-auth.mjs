// Tokens over Socket.IO with the real client, against a gateway that
// verifies them:
//
//   node sio-auth.mjs http://CLIENT http://ADMIN GOOD EXPIRED SHORT
//
// GOOD grants dashboard:*, EXPIRED has expired, SHORT expires within 5 s.
// 1. With {auth: {token: GOOD}}, a subscribe outside the grant gets an ack
//    error and a `herald:error` event (105).
// 2. Without a token, and with EXPIRED: CONNECT_ERROR whose `data` carries
//    {code, name, reconnect}.
// 3. With an `auth` callback that hands out SHORT, then GOOD: at expiry a
//    `herald:error` 4007 arrives, the transport closes, and the client
//    reconnects by itself with the fresh token.
import { io, urls, fail, step, done, until } from './sio-lib.mjs';

const { client, rest } = urls();
const [good, expired, short] = rest;
if (!short) fail('usage: node sio-auth.mjs CLIENT ADMIN GOOD EXPIRED SHORT');
const base = { transports: ['websocket'], forceNew: true };

// 1. Denied subscribe.
const s1 = io(client, { ...base, auth: { token: good }, reconnection: false });
let deniedEvent = null;
s1.on('herald:error', (e) => { deniedEvent = e; });
s1.on('connect_error', (e) => fail(`good token refused: ${e.message}`));
await until(() => s1.connected, 'connect with a good token');
const deniedAck = await s1.timeout(5000).emitWithAck('subscribe', { room: 'admin:x' });
await until(() => deniedEvent !== null, 'herald:error for the denied room');
s1.close();
step('denied', { deniedAck, deniedEvent });

// 2. Refused at connect.
async function refusal(auth) {
  const s = io(client, { ...base, auth, reconnection: false });
  let err = null;
  s.on('connect_error', (e) => { err = e; });
  s.on('connect', () => fail('connected without a valid token'));
  await until(() => err !== null, 'connect_error');
  s.close();
  return { message: err.message, ...err.data };
}
const noToken = await refusal({});
const expiredToken = await refusal({ token: expired });
step('refused', { noToken, expiredToken });

// 3. A token that lapses, and the auth callback's fresh one.
let authCalls = 0;
let connects = 0;
let notice = null;
const s4 = io(client, {
  ...base,
  reconnectionDelay: 100,
  reconnectionDelayMax: 200,
  auth: (cb) => {
    authCalls += 1;
    cb({ token: authCalls === 1 ? short : good });
  },
});
s4.on('connect', () => { connects += 1; });
s4.on('herald:error', (e) => { notice = e; });
s4.on('connect_error', (e) => fail(`lapsing socket refused: ${e.message}`));
await until(() => connects >= 2, 'the reconnect after expiry', 12000);
s4.close();

done({
  denied_ack: deniedAck,
  denied_event: deniedEvent,
  no_token: noToken,
  expired: expiredToken,
  lapsed: { notice, auth_calls: authCalls, reconnected: connects === 2 },
});
