"""Reports: the desk's KPIs computed from its event history."""
