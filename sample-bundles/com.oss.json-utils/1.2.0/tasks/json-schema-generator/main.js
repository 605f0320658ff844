(function (input) {
  function infer(v) {
    if (v === null) return { type: "null" };
    if (Array.isArray(v)) return v.length ? { type: "array", items: infer(v[0]) } : { type: "array" };
    if (typeof v === "object") {
      const properties = {};
      for (const k of Object.keys(v)) properties[k] = infer(v[k]);
      return { type: "object", properties: properties, required: Object.keys(v) };
    }
    if (typeof v === "number") return { type: Number.isInteger(v) ? "integer" : "number" };
    return { type: typeof v };
  }
  return { schema: infer(input.sample) };
})
