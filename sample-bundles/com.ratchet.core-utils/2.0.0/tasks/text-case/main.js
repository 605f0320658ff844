function main(input) {
  const t = input.text;
  switch (input.mode) {
    case "upper": return { text: t.toUpperCase() };
    case "lower": return { text: t.toLowerCase() };
    default:
      return { text: t.toLowerCase().replace(/\b\w/g, (c) => c.toUpperCase()) };
  }
}
