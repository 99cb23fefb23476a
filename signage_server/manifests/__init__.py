"""Signed per-screen manifests: compiled from schedules and approved content, kept as history."""
