(function (input) {
  try {
    return { data: JSON.parse(input.text) };
  } catch (e) {
    throw new Error("invalid JSON text: " + e.message);
  }
})
