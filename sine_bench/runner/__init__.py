"""Running a protocol: content-addressed keys, an atomic store with per-key locks,
the fine-tune -> edit -> score stages, and executors that run their jobs."""
