"""Model servers: probing and benchmarking any OpenAI-compatible one (`rag models check|bench`)."""
