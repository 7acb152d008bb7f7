;; The class kernels of src/kernels.rs as WebAssembly, compiled by wasmtime (Cranelift) at run
;; time. Memory (5 pages, 320 KiB): 0..262144 the pointer-chasing buffer (65536 u32 slots,
;; written by the host after instantiation).
(module
  (memory (export "memory") 5)

  ;; arith: adds, compares and shifts; checksum = acc << 20 + x.
  (func (export "arith") (param $rounds i32) (result i64)
    (local $x i64) (local $acc i64) (local $i i64)
    (local.set $x (i64.const 1))
    (block $done
      (loop $round
        (br_if $done (i32.eqz (local.get $rounds)))
        (local.set $i (i64.const 0))
        (loop $step
          (local.set $x
            (i64.add (i64.add (local.get $x) (i64.shr_u (local.get $x) (i64.const 3)))
                     (local.get $i)))
          (if (i64.ge_u (local.get $x) (i64.const 1000003))
            (then (local.set $x (i64.sub (local.get $x) (i64.const 1000003)))))
          (local.set $acc (i64.add (local.get $acc) (local.get $x)))
          (if (i64.ge_u (local.get $acc) (i64.const 1000003))
            (then (local.set $acc (i64.sub (local.get $acc) (i64.const 1000003)))))
          (local.set $i (i64.add (local.get $i) (i64.const 1)))
          (br_if $step (i64.lt_u (local.get $i) (i64.const 256))))
        (local.set $rounds (i32.sub (local.get $rounds) (i32.const 1)))
        (br $round)))
    (i64.add (i64.shl (local.get $acc) (i64.const 20)) (local.get $x)))

  ;; memory (exported as `chase`): p = next[p] over the buffer, 256 dependent loads per round;
  ;; checksum = acc << 16 + p.
  (func (export "chase") (param $rounds i32) (result i64)
    (local $p i32) (local $acc i64) (local $i i32)
    (block $done
      (loop $round
        (br_if $done (i32.eqz (local.get $rounds)))
        (local.set $i (i32.const 256))
        (loop $step
          (local.set $p (i32.load (i32.shl (local.get $p) (i32.const 2))))
          (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $p))))
          (if (i64.ge_u (local.get $acc) (i64.const 1000003))
            (then (local.set $acc (i64.sub (local.get $acc) (i64.const 1000003)))))
          (local.set $i (i32.sub (local.get $i) (i32.const 1)))
          (br_if $step (local.get $i)))
        (local.set $rounds (i32.sub (local.get $rounds) (i32.const 1)))
        (br $round)))
    (i64.add (i64.shl (local.get $acc) (i64.const 16)) (i64.extend_i32_u (local.get $p))))
)
