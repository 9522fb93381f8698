-- Appends a message to a room, applies the room's retention, and returns the
-- message's send_time (rpc-server/src/store/redis/mod.rs).
-- KEYS[1]: the room's sorted set.
-- ARGV[1], ARGV[3]: the member before and after its send_time.
-- ARGV[2]: how the send_time is written into the member: 'be64' (8 bytes,
--          big-endian: the compact format) or 'decimal' (JSON).
-- ARGV[4]: keep at most this many messages (0: no bound).
-- ARGV[5]: keep only messages younger than this many microseconds, and let
--          the room expire that long after its last message (0: no bound).
-- send_time = max(Redis's clock, the room's newest score + 1), in microseconds,
-- so it is strictly increasing per room however many servers share the Redis.
-- ZADD is the script's first write: a Redis out of memory refuses it before
-- anything is changed.
local clock = redis.call('TIME')
local t = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local newest = redis.call('ZRANGE', KEYS[1], 0, 0, 'REV', 'WITHSCORES')
if newest[2] ~= nil then
  local last = tonumber(newest[2])
  if last >= t then t = last + 1 end
end
-- string.format('%d') keeps all 16 digits; Lua's default formatting rounds them.
local send_time = string.format('%d', t)
local stamp
if ARGV[2] == 'be64' then stamp = struct.pack('>i8', t) else stamp = send_time end
redis.call('ZADD', KEYS[1], send_time, ARGV[1] .. stamp .. ARGV[3])
local keep = tonumber(ARGV[4])
if keep > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -keep - 1)
end
local age = tonumber(ARGV[5])
if age > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%d', t - age))
  redis.call('PEXPIRE', KEYS[1], math.ceil(age / 1000))
end
return t
