"""The local registry a KIND node pulls from: images by digest, and the locked models for the init container."""
