// A CONNECT through a connect proxy that fails: the client gets
// CONNECT_ERROR, and the script prints its message and data.
//
//   node sio-backend-down.mjs http://CLIENT http://ADMIN
import { io, urls, done, once } from './sio-lib.mjs';

const { client } = urls();
const s = io(client, { forceNew: true, reconnection: false, transports: ['websocket'] });
const [err] = await once(s, 'connect_error');
s.close();
done({ message: err.message, data: err.data });
