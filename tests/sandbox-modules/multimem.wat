;; Two linear memories: each could otherwise be grown to the memory limit on its own.
(module
  (memory (export "memory") 1)
  (memory $second 1)
  (func (export "_start")
    (drop (memory.grow $second (i32.const 100)))))
