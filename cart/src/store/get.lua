-- Atomic read of one cart with its remaining TTL (the TTL is not refreshed by reads).
-- KEYS[1]  the cart hash
-- Returns {status, ttl_ms, {field, value, ...}}; status: 'ok' | 'cart_not_found'.
local key = KEYS[1]
local ttl = redis.call('PTTL', key)
if ttl == -2 then
  return {'cart_not_found', 0, {}}
end
return {'ok', ttl, redis.call('HGETALL', key)}
