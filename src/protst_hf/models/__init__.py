"""Model families of protst-hf."""
