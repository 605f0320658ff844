function main(input) {
  const missing = input.required.filter((k) => !(k in input.document));
  return { valid: missing.length === 0, missing: missing };
}
