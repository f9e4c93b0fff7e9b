"""Hash-ratchet archive encryption and secp256k1 link signing, as status-go."""
