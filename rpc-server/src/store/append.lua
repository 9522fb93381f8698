-- Appends a message to a room and returns its send_time (rpc-server/src/store/redis.rs).
-- KEYS[1]: the room's sorted set.
-- ARGV[1]: the message JSON without its closing brace, ending in "send_time":
-- send_time = max(Redis's clock, the room's newest score + 1), in microseconds,
-- so it is strictly increasing per room however many servers share the Redis.
-- string.format('%d') keeps all 16 digits; Lua's default formatting rounds them.
local clock = redis.call('TIME')
local t = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local newest = redis.call('ZRANGE', KEYS[1], 0, 0, 'REV', 'WITHSCORES')
if newest[2] ~= nil then
  local last = tonumber(newest[2])
  if last >= t then t = last + 1 end
end
local send_time = string.format('%d', t)
redis.call('ZADD', KEYS[1], send_time, ARGV[1] .. send_time .. '}')
return t
