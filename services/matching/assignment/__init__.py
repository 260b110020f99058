"""Assignment: the online match for one partner, and the exact, fair batch re-assignment of
every open partner (min-cost flow)."""
