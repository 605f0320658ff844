function main(input) {
  const valid = [];
  const invalid = [];
  for (const record of input.records) {
    const ok = Object.entries(input.rules).every(([field, type]) => typeof record[field] === type);
    (ok ? valid : invalid).push(record);
  }
  return { valid: valid, invalid: invalid };
}
