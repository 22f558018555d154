-- Atomic removal of one line. The cart stays (possibly empty, kept by `criado_em`).
-- KEYS[1]  the cart hash
-- ARGV[1]  doce_id        ARGV[2]  TTL (ms)
-- Returns {status, ttl_ms, {field, value, ...}}
-- status: 'ok' | 'cart_not_found' | 'item_not_found' (the last two write nothing).
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then
  return {'cart_not_found', 0, {}}
end
if redis.call('HDEL', key, 'doce:' .. ARGV[1]) == 0 then
  return {'item_not_found', 0, {}}
end
redis.call('PEXPIRE', key, ARGV[2])
return {'ok', tonumber(ARGV[2]), redis.call('HGETALL', key)}
