"""MQTT transport: the managed broker, per-screen broker accounts, and content chunks."""
