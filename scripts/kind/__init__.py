"""Real containers and a real KIND cluster: the container engine's config, the node image, the cluster."""
