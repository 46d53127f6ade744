#!lua
-- Sequences one batch of events atomically (see publishScript in redis_publish.go for the layout of
-- KEYS and ARGV). The shebang makes Redis (7.0+) refuse the whole script up front when it is out of
-- memory, instead of failing a write half-way: a script's earlier writes are never rolled back.
--
-- Phase 1 only reads and decides; phase 2 only writes, with commands that cannot fail on the keys the
-- relay owns. So a batch is applied whole or not at all.

local channel = ARGV[1]
local now_ms = tonumber(ARGV[2])
local history = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local idle_ttl = tonumber(ARGV[5])
local session_ttl = tonumber(ARGV[6])
local max_sessions = tonumber(ARGV[7])
local nsessions = tonumber(ARGV[8])
local first_input = 9 + nsessions
local ninputs = (#ARGV - first_input + 1) / 4
local index = KEYS[1]

-- int formats a number for a command: Redis would print a large Lua number in exponent notation.
local function int(n) return string.format('%d', n) end

-- Keys of session s: its state hash, its history stream, its recent source IDs.
local function meta(s) return KEYS[3 * s - 1] end
local function stream(s) return KEYS[3 * s] end
local function ids(s) return KEYS[3 * s + 1] end

-- Phase 1: read every session's state and decide, without writing anything the batch depends on.
local last, terminal_seq, fresh = {}, {}, {}
for s = 1, nsessions do
  local m = redis.call('HMGET', meta(s), 'last', 'fin')
  if m[1] then
    last[s] = tonumber(m[1])
    terminal_seq[s] = m[2] and tonumber(m[2]) or false
  else
    last[s] = 0
    terminal_seq[s] = false
    fresh[s] = true
  end
end

local dup, seen, ending, touched = {}, {}, {}, {}
local new_sessions = 0
for i = 1, ninputs do
  local a = first_input + 4 * (i - 1)
  local s, id, term = tonumber(ARGV[a]), ARGV[a + 1], ARGV[a + 2] == '1'
  if id ~= '' then
    seen[s] = seen[s] or {}
    if seen[s][id] or (not fresh[s] and redis.call('ZSCORE', ids(s), id)) then
      dup[i] = true
    else
      seen[s][id] = true
    end
  end
  if not dup[i] then
    if terminal_seq[s] or ending[s] then
      return {1, s}
    end
    if term then ending[s] = true end
    if fresh[s] and not touched[s] then new_sessions = new_sessions + 1 end
    touched[s] = true
  end
end

local count = -1
if new_sessions > 0 then
  -- Only a new session grows the index, so this is where expired entries are swept. Sweeping is
  -- housekeeping, not part of the batch: it is right whether or not the batch is accepted.
  redis.call('ZREMRANGEBYSCORE', index, '-inf', ARGV[2])
  count = redis.call('ZCARD', index)
  if max_sessions > 0 and count + new_sessions > max_sessions then
    return {2}
  end
  count = count + new_sessions
end

-- Phase 2: write.
local reply = {0, count}
local notice = {}
for s = 1, nsessions do
  if fresh[s] and touched[s] then
    -- Leftovers of an expired session must not outlive it: the stream would refuse seq 1.
    redis.call('DEL', stream(s), ids(s))
  end
end
for i = 1, ninputs do
  local a = first_input + 4 * (i - 1)
  if dup[i] then
    reply[#reply + 1] = 0
  else
    local s, id, term, tail = tonumber(ARGV[a]), ARGV[a + 1], ARGV[a + 2] == '1', ARGV[a + 3]
    local seq = last[s] + 1
    last[s] = seq
    local seqstr = int(seq)
    redis.call('XADD', stream(s), 'MAXLEN', int(history), seqstr .. '-0', 'e', tail)
    if id ~= '' and window > 0 then
      redis.call('ZADD', ids(s), seqstr, id)
    end
    if term then terminal_seq[s] = seq end
    notice[#notice + 1] = #seqstr .. ':' .. seqstr .. tail
    reply[#reply + 1] = seq
  end
end

for s = 1, nsessions do
  if touched[s] then
    local ttl = idle_ttl
    if terminal_seq[s] then
      redis.call('HSET', meta(s), 'last', int(last[s]), 'fin', int(terminal_seq[s]))
      ttl = session_ttl
    else
      redis.call('HSET', meta(s), 'last', int(last[s]))
    end
    if window > 0 then
      redis.call('ZREMRANGEBYRANK', ids(s), 0, -(window + 1))
    end
    redis.call('PEXPIRE', meta(s), int(ttl))
    redis.call('PEXPIRE', stream(s), int(ttl))
    redis.call('PEXPIRE', ids(s), int(ttl))
    redis.call('ZADD', index, int(now_ms + ttl), ARGV[8 + s])
  end
end

if #notice > 0 then
  redis.call('PUBLISH', channel, table.concat(notice))
end
return reply
