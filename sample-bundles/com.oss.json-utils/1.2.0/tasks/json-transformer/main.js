const main = (input) => {
  const rename = input.rename || {};
  const drop = new Set(input.drop || []);
  const out = {};
  for (const [k, v] of Object.entries(input.document)) {
    if (drop.has(k)) continue;
    out[rename[k] || k] = v;
  }
  return { document: out };
};
