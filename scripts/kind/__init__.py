"""Real containers and a real KIND cluster (`snap2prod kind`, `snap2prod images`), on podman, offline.

Public face: ``register`` (the CLI). ``library`` is what `promote --to kind` uses: the cluster, the images by the
digests the local registry serves, the models mirrored there. Inside: ``podman`` (the engine), ``bases``
(Debian-made base images), ``images`` (app + Ollama builds), ``registry`` + ``publish`` + ``blobs`` (the local
registry), ``nodeimage`` + ``node_files`` (the offline node image), ``cluster`` (kind up/down/status), ``gpu`` (the
GPU-shaped worker of `kind up --gpus`), ``cli``.
"""

from scripts.kind.cli import register

__all__ = ["register"]
