(function (input) {
  const replicas = input.replicas || 1;
  const labels = { app: input.name };
  return {
    manifest: {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: input.name, labels: labels },
      spec: {
        replicas: replicas,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels: labels },
          spec: { containers: [{ name: input.name, image: input.image }] }
        }
      }
    },
    summary: input.name + ": " + replicas + " x " + input.image
  };
})
