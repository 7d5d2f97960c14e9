"""Search: the index, backends behind one interface, the HTTP API and web UI."""
