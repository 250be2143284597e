"""Embeddings at scale: resumable sharded embedding of FASTA or text files (`protst embed`), FAISS indexes built
from the shards (`protst index build`), and the annotations printed beside search hits (`protst search`)."""
