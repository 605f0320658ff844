;; A memory-bound loop without any host call: scattered loads and stores over 24 MiB, so each
;; iteration waits on cache misses and spends few metering points per millisecond. Only the
;; operating system's CPU timer or the parent's deadline stops it in reasonable time.
(module
  (memory (export "memory") 400)
  (func (export "_start") (local $x i32) (local $a i32)
    (local.set $x (i32.const 1))
    (loop $l
      (local.set $a (i32.and (i32.mul (local.get $x) (i32.const 1103515245)) (i32.const 0x17ffffc)))
      (local.set $x (i32.add (i32.add (local.get $x) (i32.const 12345)) (i32.load (local.get $a))))
      (i32.store (local.get $a) (local.get $x))
      (br $l))))
