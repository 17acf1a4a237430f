"""LogQL: parse, plan, push down to SQL, evaluate."""
