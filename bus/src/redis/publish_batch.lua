-- Herald bus batch publish, protocol version 1 (docs/adapter-protocol.md §5.1).
-- Stores n publications of ONE shard, in order, each with exactly the
-- semantics of publish.lua; per-room work (epoch, TTLs, history trim) is
-- done once per room and the shard stream is trimmed once per call.
-- KEYS[1] shard stream; then for publication i = 0..n-1:
--   KEYS[2+4i] room hash   KEYS[3+4i] room history stream   KEYS[4+4i] fence key of the source
--   KEYS[5+4i] room's live-collection set (a hash: key text -> document JSON)
-- ARGV[1] history size  ARGV[2] history ttl seconds  ARGV[3] shard stream maxlen
-- then for publication i: ARGV[4+10i] room  ARGV[5+10i] frame bytes  ARGV[6+10i] epoch candidate
--   ARGV[7+10i] src ("" = none)  ARGV[8+10i] src_pos ("" = none)  ARGV[9+10i] fence ("" = none)
--   ARGV[10+10i] set op ("" = none, put, del, reset)  ARGV[11+10i] set key
--   ARGV[12+10i] document (put) or JSON [[key, document], ...] (reset)  ARGV[13+10i] set spec JSON
-- A stored publication with a set op changes the set in the same step; a
-- room with a set (its hash has a `set` field) never expires.
-- Reply: one entry per publication, in order:
--   {'ok', epoch, offset} | {'dup', epoch, latest offset} | {'stalefence', message, ''}
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

local hsize = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local stream = KEYS[1]
local n = (#KEYS - 1) / 4
local rooms = {}   -- room hash key -> {epoch, hist, pos = {src -> last or false}, stored}
local order = {}   -- room hash keys in first-seen order
local fences = {}  -- fence key -> stored fence or false
local out = {}

for i = 0, n - 1 do
  local kroom, khist, kfence, kset = KEYS[2 + 4 * i], KEYS[3 + 4 * i], KEYS[4 + 4 * i], KEYS[5 + 4 * i]
  local a = 4 + 10 * i
  local room, frame, cand = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local src, pos, fence = ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  local setop, setkey, setval, spec = ARGV[a + 6], ARGV[a + 7], ARGV[a + 8], ARGV[a + 9]
  local reply = nil

  if fence ~= '' then
    local stored = fences[kfence]
    if stored == nil then
      stored = redis.call('GET', kfence) or false
      fences[kfence] = stored
    end
    if stored and num_lt(fence, stored) then
      reply = {'stalefence', 'fence ' .. fence .. ' is older than ' .. stored, ''}
    elseif not stored or num_lt(stored, fence) then
      redis.call('SET', kfence, fence)
      fences[kfence] = fence
    end
  end

  if not reply then
    local st = rooms[kroom]
    if not st then
      if redis.call('HSETNX', kroom, 'epoch', cand) == 1 then
        redis.call('DEL', khist, kset)
      end
      st = {epoch = redis.call('HGET', kroom, 'epoch'), hist = khist, pos = {}, stored = false}
      rooms[kroom] = st
      order[#order + 1] = kroom
    end
    if src ~= '' and pos ~= '' then
      local last = st.pos[src]
      if last == nil then
        last = redis.call('HGET', kroom, 'p:' .. src) or false
      end
      if last and not bytes_lt(last, pos) then
        st.pos[src] = last
        reply = {'dup', st.epoch, redis.call('HGET', kroom, 'offset') or '0'}
      else
        redis.call('HSET', kroom, 'p:' .. src, pos)
        st.pos[src] = pos
      end
    end
    if not reply then
      local off = string.format('%d', redis.call('HINCRBY', kroom, 'offset', 1))
      if hsize > 0 then
        redis.call('XADD', khist, off .. '-0', 'f', frame)
      end
      redis.call('XADD', stream, '*', 'r', room, 'e', st.epoch, 'o', off, 'f', frame)
      st.stored = true
      if setop == 'put' then
        redis.call('HSET', kset, setkey, setval)
      elseif setop == 'del' then
        redis.call('HDEL', kset, setkey)
      elseif setop == 'reset' then
        redis.call('DEL', kset)
        for _, kv in ipairs(cjson.decode(setval)) do
          redis.call('HSET', kset, kv[1], kv[2])
        end
      end
      if setop ~= '' then
        redis.call('HSET', kroom, 'set', spec)
      end
      reply = {'ok', st.epoch, off}
    end
  end
  out[#out + 1] = reply
end

for _, kroom in ipairs(order) do
  local st = rooms[kroom]
  if st.stored then
    if hsize > 0 then
      redis.call('XTRIM', st.hist, 'MAXLEN', hsize)
      redis.call('EXPIRE', st.hist, ttl)
    end
    if redis.call('HEXISTS', kroom, 'set') == 1 then
      redis.call('PERSIST', kroom)
    else
      redis.call('EXPIRE', kroom, ttl)
    end
  end
end
redis.call('XTRIM', stream, 'MAXLEN', '~', ARGV[3])
return out
