-- Herald node heartbeat (docs/adapter-protocol.md, "Nodes").
-- KEYS[1] nodes zset  KEYS[2] node-info hash
-- ARGV[1] node id  ARGV[2] heartbeat frame bytes ("" = leave, "?" = only list)
-- ARGV[3] node ttl ms. Returns the heartbeat frames of the live nodes.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[2] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
elseif ARGV[2] ~= '?' then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
for _, n in ipairs(dead) do
  redis.call('ZREM', KEYS[1], n)
  redis.call('HDEL', KEYS[2], n)
end
local live = redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[3]), '+inf')
if #live == 0 then return {} end
return redis.call('HMGET', KEYS[2], unpack(live))
