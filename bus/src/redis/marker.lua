-- Herald data marker check (docs/adapter-protocol.md, "Data loss").
-- KEYS[1] marker key  ARGV[1] candidate value
local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
redis.call('SET', KEYS[1], ARGV[1])
return {0, ARGV[1]}
