"""The screens dashboard and the follow-up of an approval: what every screen shows, live."""
