;; A bulk-memory bomb: fills 16 MiB of memory again and again. Each fill is one operator, so a
;; fixed cost per operator would let it run for days; the bulk metering charges its length.
(module
  (memory (export "memory") 257)
  (func (export "_start")
    (loop $l
      (memory.fill (i32.const 0) (i32.const 7) (i32.const 16777216))
      (br $l))))
