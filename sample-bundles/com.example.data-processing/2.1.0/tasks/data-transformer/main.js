(function (input) {
  const mapping = input.mapping || {};
  const defaults = input.defaults || {};
  return {
    records: input.records.map((r) => {
      const out = Object.assign({}, defaults);
      for (const [k, v] of Object.entries(r)) out[mapping[k] || k] = v;
      return out;
    }),
  };
})
