-- Herald bus history read, protocol version 1 (docs/adapter-protocol.md).
-- KEYS[1] room hash  KEYS[2] room history stream  KEYS[3] room's live-collection set
-- ARGV[1] epoch candidate  ARGV[2] since epoch ("" = none)  ARGV[3] since offset
-- ARGV[4] limit  ARGV[5] history size  ARGV[6] history ttl seconds
-- Reply: {epoch, latest offset, newest entries first, set spec or false, set}
-- where the set ({key, document, ...}) is read, in the same step as the
-- position, only for a live collection whose entries do not recover `since`.
if redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1]) == 1 then
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
end
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local latest = tonumber(redis.call('HGET', KEYS[1], 'offset') or '0')
local n = tonumber(ARGV[4])
local since = nil
if ARGV[2] == epoch then
  since = tonumber(ARGV[3])
  if since <= latest and latest - since > n then n = latest - since end
end
local size = tonumber(ARGV[5])
if n > size then n = size end
local entries = {}
if n > 0 then entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', n) end
local spec = redis.call('HGET', KEYS[1], 'set')
local set = {}
if spec then
  local recovered = false
  if since and since <= latest then
    if since == latest then
      recovered = true
    elseif #entries > 0 then
      local oldest = tonumber(string.match(entries[#entries][1], '^(%d+)'))
      recovered = oldest <= since + 1
    end
  end
  if not recovered then set = redis.call('HGETALL', KEYS[3]) end
end
return {epoch, tostring(latest), entries, spec, set}
