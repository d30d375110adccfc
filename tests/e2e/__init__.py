"""End-to-end tests: authsvc with the real registry, dockerd, podman, skopeo and ctr."""
