"""Planning tools: decisions made from the ledger before they cost anything.

* ``gpus`` — the GPU catalog (memory, bandwidth, bf16 TFLOPs, typical hourly price, sources);
* ``shapes`` — common open models' shapes (parameters, layers, KV heads, head size);
* ``vram`` — weights + KV cache + overhead for a model, quantization and context;
* ``throughput`` — what one GPU serves: decode from memory bandwidth, prefill from FLOPs;
* ``selfhost`` — the self-hosting break-even against the API bill, with a capacity check;
* ``whatif`` — recorded ledger traffic re-priced under another policy.
"""
