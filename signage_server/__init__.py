"""The central server: content, captions, approval, schedules, manifests, transport."""
