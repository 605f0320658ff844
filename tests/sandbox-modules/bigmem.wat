;; Asks for 512 MiB of initial memory.
(module
  (memory (export "memory") 8192)
  (func (export "_start")))
