"""The on-site player: verifies signed manifests, caches content, renders, reports proof of play."""
