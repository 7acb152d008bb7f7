#!lua name=isoprobe
-- The probe library of the `redis` scheme (isolation-plugins/src/redis): the standard probe
-- operations as Redis Functions, loaded with FUNCTION LOAD. The kernels are the ones of
-- src/kernels.rs; every value stays below 2^53, so Lua 5.1's doubles compute them exactly.

-- A warm invocation: enter and leave.
local function nop(keys, args)
  return 0
end

-- Record access: GET each key, return the total length read.
local function read(keys, args)
  local n = 0
  for i = 1, #keys do
    local v = redis.call('GET', keys[i])
    if v then n = n + #v end
  end
  return n
end

-- int_mul: FNV-1a 64 over the 256-byte input (byte i = (i * 31 + 7) mod 256), the hash held in
-- four 16-bit limbs because Lua 5.1 has no 64-bit integers. Returns the four limbs, low first.
local input = {}
for i = 0, 255 do input[i + 1] = (i * 31 + 7) % 256 end
local function fnv(keys, args)
  local rounds = tonumber(args[1])
  local bxor = bit.bxor
  local h0, h1, h2, h3 = 0x2325, 0x8422, 0x9ce4, 0xcbf2
  for r = 1, rounds do
    for i = 1, 256 do
      h0 = bxor(h0, input[i])
      -- h * 0x100000001b3 = h * 0x1b3 + (h << 40), mod 2^64
      local c0 = h0 * 0x1b3
      local c1 = h1 * 0x1b3 + math.floor(c0 / 65536)
      local c2 = h2 * 0x1b3 + h0 * 256 + math.floor(c1 / 65536)
      local c3 = h3 * 0x1b3 + h1 * 256 + math.floor(c2 / 65536)
      h0 = c0 % 65536
      h1 = c1 % 65536
      h2 = c2 % 65536
      h3 = c3 % 65536
    end
  end
  return {h0, h1, h2, h3}
end

-- arith: adds, compares and shifts. The shift x >> 3 is written (x - x % 8) / 8, exact in
-- doubles: Lua 5.1 has no shift operator, and bit.rshift would add a C call per step.
local function arith(keys, args)
  local rounds = tonumber(args[1])
  local x, acc, m = 1, 0, 1000003
  for r = 1, rounds do
    for i = 0, 255 do
      x = x + (x - x % 8) / 8 + i
      if x >= m then x = x - m end
      acc = acc + x
      if acc >= m then acc = acc - m end
    end
  end
  return acc * 1048576 + x
end

-- memory: dependent loads over a single-cycle permutation of 65536 slots (Sattolo, MINSTD),
-- built on the first call.
local chase = nil
local function build_chase()
  local t = {}
  for i = 0, 65535 do t[i + 1] = i end
  local s = 1
  for i = 65535, 1, -1 do
    s = (s * 48271) % 2147483647
    local j = s % i
    t[i + 1], t[j + 1] = t[j + 1], t[i + 1]
  end
  return t
end
local function memory(keys, args)
  if not chase then chase = build_chase() end
  local rounds = tonumber(args[1])
  local t = chase
  local p, acc, m = 0, 0, 1000003
  for r = 1, rounds do
    for i = 1, 256 do
      p = t[p + 1]
      acc = acc + p
      if acc >= m then acc = acc - m end
    end
  end
  return acc * 65536 + p
end

redis.register_function('iso_nop', nop)
redis.register_function('iso_read', read)
redis.register_function('iso_fnv', fnv)
redis.register_function('iso_arith', arith)
redis.register_function('iso_memory', memory)
