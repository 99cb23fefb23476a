"""Shared pytest fixtures; each section is owned by the engineer named in its header."""

# ---- broker (MQTT transport): real Mosquitto on a free port in tmp -------------------------
from tests.broker_fixtures import accounts, broker, fresh_broker, pki, tls_broker  # noqa: F401
