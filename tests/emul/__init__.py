"""SCST kernel emulator for tests: in-memory model (scstkernel), host description
(host), FUSE adapter (scstfs) and capture replay helpers (replay)."""
