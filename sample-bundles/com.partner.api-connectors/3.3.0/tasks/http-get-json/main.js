(function (input) {
  const response = fetch(input.url, { method: "GET", headers: { Accept: "application/json" } });
  if (!response.ok) {
    throw new Error("request failed with status " + response.status);
  }
  return { body: response.body };
})
