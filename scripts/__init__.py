"""snap2prod's stack tooling behind the `snap2prod` CLI: shared modules here, one package per command group."""
