(function (input) {
  const response = fetch("https://login.salesforce.com/services/oauth2/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: "grant_type=client_credentials&client_id=" + encodeURIComponent(input.client_id) +
      "&client_secret=" + encodeURIComponent(input.client_secret),
  });
  if (!response.ok) throw new Error("authentication failed: " + response.status);
  return { access_token: response.body.access_token, instance_url: response.body.instance_url };
})
