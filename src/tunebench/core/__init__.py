"""Small shared utilities: errors, atomic I/O, hashing, device and seeding."""
