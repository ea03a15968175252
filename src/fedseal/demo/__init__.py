"""``fedseal demo``: the whole system on one machine (server and silos as processes, mTLS)."""
