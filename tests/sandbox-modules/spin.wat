;; An infinite loop without any host call: only the CPU budget can stop it.
(module
  (memory (export "memory") 1)
  (func (export "_start") (loop $l (br $l))))
