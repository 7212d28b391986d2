"""`deflicker batch`: many shots through one resident server (a host node that uses the bridge only)."""
