;; A table bomb: grows a function table by ten million elements at a time. Each element costs
;; the host memory outside linear memory, so growth must be refused (table.grow returns -1):
;; exits 3 when refused, traps if it ever got 50 million elements.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (table $t 1 funcref)
  (func (export "_start")
    (local $i i32)
    (loop $l
      (if (i32.eq (table.grow $t (ref.null func) (i32.const 10000000)) (i32.const -1))
        (then (call $exit (i32.const 3))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 5))))
    unreachable))
