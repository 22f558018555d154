-- Atomic add-with-caps on one cart (Redis runs a script to completion before any other
-- command, so the read, the checks and the write below are one step).
-- KEYS[1]  the cart hash
-- ARGV[1]  doce_id        ARGV[2]  units to add     ARGV[3]  units the catalog has available
-- ARGV[4]  TTL (ms)       ARGV[5]  max units a line ARGV[6]  max lines a cart
-- ARGV[7]  now (unix ms), kept as `criado_em` when the cart is created
-- Returns {status, ttl_ms, units_of_this_product_before, {field, value, ...}}
-- status: 'ok' | 'cart_full' | 'line_limit' | 'insufficient_stock'; refusals write nothing.
local key = KEYS[1]
local field = 'doce:' .. ARGV[1]
local atual = tonumber(redis.call('HGET', key, field) or '0')
if atual == 0 then
  local linhas = redis.call('HLEN', key) - redis.call('HEXISTS', key, 'criado_em')
  if linhas >= tonumber(ARGV[6]) then
    return {'cart_full', 0, atual, {}}
  end
end
local novo = atual + tonumber(ARGV[2])
if novo > tonumber(ARGV[5]) then
  return {'line_limit', 0, atual, {}}
end
if novo > tonumber(ARGV[3]) then
  return {'insufficient_stock', 0, atual, {}}
end
redis.call('HSETNX', key, 'criado_em', ARGV[7])
redis.call('HSET', key, field, novo)
redis.call('PEXPIRE', key, ARGV[4])
return {'ok', tonumber(ARGV[4]), atual, redis.call('HGETALL', key)}
