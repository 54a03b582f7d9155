-- Herald bus history read, protocol version 1 (docs/adapter-protocol.md).
-- KEYS[1] room hash  KEYS[2] room history stream
-- ARGV[1] epoch candidate  ARGV[2] since epoch ("" = none)  ARGV[3] since offset
-- ARGV[4] limit  ARGV[5] history size  ARGV[6] history ttl seconds
if redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1]) == 1 then
  redis.call('DEL', KEYS[2])
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
end
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local latest = tonumber(redis.call('HGET', KEYS[1], 'offset') or '0')
local n = tonumber(ARGV[4])
if ARGV[2] == epoch then
  local since = tonumber(ARGV[3])
  if since <= latest and latest - since > n then n = latest - since end
end
local size = tonumber(ARGV[5])
if n > size then n = size end
local entries = {}
if n > 0 then entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', n) end
return {epoch, tostring(latest), entries}
