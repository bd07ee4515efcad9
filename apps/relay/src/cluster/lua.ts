/**
 * The Lua scripts of the Redis-protocol store (run with EVAL; Redis 7 and Valkey run the same
 * Lua 5.1). Each is one atomic compare-and-act on a lease key and its target's fence counter.
 *
 * Fences per target only grow, also across a store that restarted empty: a missing counter
 * starts at the store's clock in microseconds (TIME), above every fence handed out before.
 */

/**
 * KEYS: lease, fence, unclean. ARGV: node id, lease ms, nonce, fence key ttl ms.
 * → `{1, holder, fence, unclean}` taken (`unclean` 1: the last holder's lease lapsed without a
 * release, so the VM may still hold its card), or `{0, holder}` held by someone.
 */
export const ACQUIRE_VM = `
local held = redis.call('GET', KEYS[1])
if held then return {0, held} end
local unclean = redis.call('EXISTS', KEYS[3])
if redis.call('EXISTS', KEYS[2]) == 0 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[2], t[1] .. string.sub('000000' .. t[2], -6))
end
local f = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local holder = ARGV[1] .. '/' .. string.format('%.0f', f) .. '/' .. ARGV[3]
redis.call('SET', KEYS[1], holder, 'PX', ARGV[2])
redis.call('SET', KEYS[3], holder, 'PX', ARGV[4])
return {1, holder, f, unclean}
`;

/**
 * KEYS: lease, fence. ARGV: holder, lease ms, fence, fence key ttl ms.
 * → 1 renewed; 2 re-asserted (lapsed, no newer fence); 0 lost.
 */
export const RENEW_VM = `
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if held then return 0 end
local last = redis.call('GET', KEYS[2])
if last and tonumber(last) > tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if not last then redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4]) end
return 2
`;

/**
 * KEYS: lease, unclean. ARGV: holder. Deletes the lease (and the unclean mark: the session
 * removed its card) only while this holder has it.
 */
export const RELEASE_VM = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1], KEYS[2]) end
return 0
`;

/** KEYS: directory entry. ARGV: node id. Deletes the entry only when that node announced it. */
export const WITHDRAW_DIAL_IN = `
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. '\\n' then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** KEYS: a set. Returns its members and deletes it (GETDEL for sets). */
export const TAKE_ALL = `
local m = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
return m
`;
