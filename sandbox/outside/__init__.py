"""The outside world: payment gateway and courier, the identity providers, Vault (OpenBao)."""
