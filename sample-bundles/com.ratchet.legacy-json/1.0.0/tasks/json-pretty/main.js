(function (input) {
  return { text: JSON.stringify(input.value, null, input.indent === undefined ? 2 : input.indent) };
})
