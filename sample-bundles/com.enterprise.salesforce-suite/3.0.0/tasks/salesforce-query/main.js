(function (input) {
  const url = input.instance_url + "/services/data/v60.0/query?q=" + encodeURIComponent(input.soql);
  const response = fetch(url, { method: "GET", headers: { Authorization: "Bearer " + input.access_token } });
  if (!response.ok) throw new Error("query failed: " + response.status);
  return { records: response.body.records };
})
