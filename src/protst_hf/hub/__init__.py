"""Hub integration: cards, pushing, conversion of released checkpoints."""
