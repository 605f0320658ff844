;; Hostile iovecs: first a length far past the end of memory (must fail with EFAULT, not make
;; the host allocate), then 1024 overlapping iovecs of the whole memory (must hit the output
;; cap, not make the host gather 64 MiB). Exits with the first errno when the second write
;; unexpectedly succeeds.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (local $i i32) (local $err i32)
    (i32.store (i32.const 0) (i32.const 0))
    (i32.store (i32.const 4) (i32.const 0xFFFFFFF0))
    (local.set $err (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (if (i32.ne (local.get $err) (i32.const 21)) (then (call $exit (i32.add (i32.const 100) (local.get $err)))))
    (loop $fill
      (i32.store (i32.add (i32.const 16) (i32.mul (local.get $i) (i32.const 8))) (i32.const 0))
      (i32.store (i32.add (i32.const 20) (i32.mul (local.get $i) (i32.const 8))) (i32.const 65536))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fill (i32.lt_u (local.get $i) (i32.const 1024))))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1024) (i32.const 8)))
    (call $exit (i32.const 3))))
