"""`codeagent eval`: tasks, checkouts at their commits, predictions per mode, metrics."""
