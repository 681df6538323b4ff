"""Numbers read off one trace: head averages, rollout, value-weighted attention, words, a query's steps, the
next-token distribution."""
