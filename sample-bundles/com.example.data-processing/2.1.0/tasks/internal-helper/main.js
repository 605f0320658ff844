(input) => ({ normalized: input.value.trim().toLowerCase() })
