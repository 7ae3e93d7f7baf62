"""snap2prod's stack tooling behind the `snap2prod` CLI: shared modules here, one package per command group.

Importing it points kubectl's and Helm's caches into the snap2prod cache (``paths.keep_kube_caches_in_our_cache``):
every kubectl and Helm the project starts inherits that, so ``~/.kube`` is never written."""

from scripts.paths import keep_kube_caches_in_our_cache

keep_kube_caches_in_our_cache()
