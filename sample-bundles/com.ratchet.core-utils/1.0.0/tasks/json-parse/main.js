(function (input) {
  try {
    return { value: JSON.parse(input.text) };
  } catch (e) {
    throw new Error("invalid JSON text: " + e.message);
  }
})
