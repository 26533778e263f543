"""The drivers that ship with the core: `local` and `memory`."""
