"""Read: raw facts from the kernel and the network (conntrack, neighbours, leases, SNMP)."""
