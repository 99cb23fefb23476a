"""Backup and restore of a whole server: database, assets, keys."""
