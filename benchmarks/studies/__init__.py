"""Studies whose question is decided and written up (docs/results.md, docs/annotation.md): kept runnable, out of the
way of the benchmarks that back the README. Each one's README row names the commit its results came from."""
