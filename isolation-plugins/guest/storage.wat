;; The standard storage function as WebAssembly (see src/store.rs), compiled by wasmtime from
;; this text at run time. Memory layout (one 64 KiB page):
;;   0..256      the compute kernel's input (byte i = (i * 31 + 7) mod 256), a data segment
;;   512..536    outputs of `run`: found, bytes, digest (i64 each)
;;   1024..5120  scratch: the record the host copies in
(module
  ;; read_record(key, dst, cap) -> record length, or -1 when absent. The host copies the
  ;; record into linear memory at [dst, dst + cap).
  (import "host" "read_record" (func $read_record (param i64 i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\07\26\45\64\83\a2\c1\e0\ff\1e\3d\5c\7b\9a\b9\d8\f7\16\35\54\73\92\b1\d0\ef\0e\2d\4c\6b\8a\a9\c8\e7\06\25\44\63\82\a1\c0\df\fe\1d\3c\5b\7a\99\b8\d7\f6\15\34\53\72\91\b0\cf\ee\0d\2c\4b\6a\89\a8\c7\e6\05\24\43\62\81\a0\bf\de\fd\1c\3b\5a\79\98\b7\d6\f5\14\33\52\71\90\af\ce\ed\0c\2b\4a\69\88\a7\c6\e5\04\23\42\61\80\9f\be\dd\fc\1b\3a\59\78\97\b6\d5\f4\13\32\51\70\8f\ae\cd\ec\0b\2a\49\68\87\a6\c5\e4\03\22\41\60\7f\9e\bd\dc\fb\1a\39\58\77\96\b5\d4\f3\12\31\50\6f\8e\ad\cc\eb\0a\29\48\67\86\a5\c4\e3\02\21\40\5f\7e\9d\bc\db\fa\19\38\57\76\95\b4\d3\f2\11\30\4f\6e\8d\ac\cb\ea\09\28\47\66\85\a4\c3\e2\01\20\3f\5e\7d\9c\bb\da\f9\18\37\56\75\94\b3\d2\f1\10\2f\4e\6d\8c\ab\ca\e9\08\27\46\65\84\a3\c2\e1\00\1f\3e\5d\7c\9b\ba\d9\f8\17\36\55\74\93\b2\d1\f0\0f\2e\4d\6c\8b\aa\c9\e8")

  ;; A warm invocation: enter and leave.
  (func (export "nop"))

  ;; FNV-1a 64 over the 256-byte input, `rounds` times without resetting the hash.
  (func $fnv (export "fnv") (param $rounds i32) (result i64)
    (local $h i64) (local $i i32)
    (local.set $h (i64.const 0xcbf29ce484222325))
    (block $done
      (loop $round
        (br_if $done (i32.eqz (local.get $rounds)))
        (local.set $i (i32.const 0))
        (loop $byte
          (local.set $h
            (i64.mul
              (i64.xor (local.get $h) (i64.load8_u (local.get $i)))
              (i64.const 0x100000001b3)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $byte (i32.lt_u (local.get $i) (i32.const 256))))
        (local.set $rounds (i32.sub (local.get $rounds) (i32.const 1)))
        (br $round)))
    (local.get $h))

  ;; The storage function: read `n` records from `key` on through the host import, fold them,
  ;; run the kernel; outputs at 512 (found), 520 (bytes), 528 (digest); returns the checksum.
  (func (export "run") (param $key i64) (param $n i32) (param $rounds i32) (result i64)
    (local $len i64) (local $found i64) (local $bytes i64) (local $digest i64)
    (block $done
      (loop $rec
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $len
          (call $read_record (local.get $key) (i32.const 1024) (i32.const 4096)))
        (if (i64.ne (local.get $len) (i64.const -1))
          (then
            (local.set $found (i64.add (local.get $found) (i64.const 1)))
            (local.set $bytes (i64.add (local.get $bytes) (local.get $len)))
            (local.set $digest (i64.add (local.get $digest) (i64.load (i32.const 1024))))))
        (local.set $key (i64.add (local.get $key) (i64.const 1)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $rec)))
    (i64.store (i32.const 512) (local.get $found))
    (i64.store (i32.const 520) (local.get $bytes))
    (i64.store (i32.const 528) (local.get $digest))
    (call $fnv (local.get $rounds)))
)
