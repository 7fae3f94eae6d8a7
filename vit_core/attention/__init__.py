"""Attention: its exact capture on the fused path, the bounded-memory store that rebuilds any slice from q and k,
the one home of the logits, and the GPU kernel and allocator setting that keep large analyses small."""
