(function (input) {
  const response = fetch(input.instance_url + "/services/data/v60.0/jobs/ingest", {
    method: "POST",
    headers: { Authorization: "Bearer " + input.access_token, "Content-Type": "application/json" },
    body: JSON.stringify({ object: input.object, operation: input.operation }),
  });
  if (!response.ok) throw new Error("bulk job failed: " + response.status);
  return { job_id: response.body.id, state: response.body.state };
})
