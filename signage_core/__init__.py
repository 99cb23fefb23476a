"""What server and player must agree on byte for byte: wire models, signing, schedules, rendering."""
