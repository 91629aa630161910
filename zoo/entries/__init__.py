"""The entry store: publishing runs as zoo entries, their cards, listing, pulling and loading them,
the Hub mirror, and the studies' paper-reported numbers."""
