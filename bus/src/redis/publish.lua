-- Herald bus publish, protocol version 1 (docs/adapter-protocol.md).
-- KEYS[1] room hash   KEYS[2] room history stream
-- KEYS[3] shard stream KEYS[4] fence key of the source
-- ARGV[1] room  ARGV[2] frame bytes  ARGV[3] epoch candidate
-- ARGV[4] src ("" = none)  ARGV[5] src_pos ("" = none)  ARGV[6] fence ("" = none)
-- ARGV[7] history size  ARGV[8] history ttl seconds  ARGV[9] shard stream maxlen
local function bytes_lt(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local function num_lt(a, b)
  if #a ~= #b then return #a < #b end
  return bytes_lt(a, b)
end

local fence = ARGV[6]
if fence ~= '' then
  local stored = redis.call('GET', KEYS[4])
  if stored and num_lt(fence, stored) then
    return redis.error_reply('STALEFENCE fence ' .. fence .. ' is older than ' .. stored)
  end
  if not stored or num_lt(stored, fence) then
    redis.call('SET', KEYS[4], fence)
  end
end

if redis.call('HSETNX', KEYS[1], 'epoch', ARGV[3]) == 1 then
  redis.call('DEL', KEYS[2])
end
local epoch = redis.call('HGET', KEYS[1], 'epoch')

local src, pos = ARGV[4], ARGV[5]
if src ~= '' and pos ~= '' then
  local last = redis.call('HGET', KEYS[1], 'p:' .. src)
  if last and not bytes_lt(last, pos) then
    local off = redis.call('HGET', KEYS[1], 'offset') or '0'
    return {'dup', epoch, off}
  end
  redis.call('HSET', KEYS[1], 'p:' .. src, pos)
end

local off = redis.call('HINCRBY', KEYS[1], 'offset', 1)
local ttl = tonumber(ARGV[8])
if tonumber(ARGV[7]) > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[7], off .. '-0', 'f', ARGV[2])
  redis.call('EXPIRE', KEYS[2], ttl)
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[9], '*', 'r', ARGV[1], 'e', epoch, 'o', off, 'f', ARGV[2])
redis.call('EXPIRE', KEYS[1], ttl)
return {'ok', epoch, tostring(off)}
