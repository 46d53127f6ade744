#!lua
-- Keeps a watched, unfinished session from expiring while its import is quiet: its keys get a fresh
-- idle TTL. A finished session keeps its session TTL; a session with no events is left alone.
-- KEYS: the session index, then the session's state hash, history stream and recent-ID set.
-- ARGV: the session ID, the TTL in milliseconds, the new expiry in Unix milliseconds.
local m = redis.call('HMGET', KEYS[2], 'last', 'fin')
if not m[1] or m[2] then
  return 0
end
for k = 2, 4 do
  redis.call('PEXPIRE', KEYS[k], ARGV[2])
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
