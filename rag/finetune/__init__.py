"""Fine-tuning from the knowledge base: RAFT-style training data (`data`), LoRA supervised fine-tuning
(`train`), adapters every supported model server can load (`export`, `deploy`), the paired evaluation
of base and adapter (`compare`), and the embedding model's own fine-tune (`embeddings`).

docs/finetune.md is the user's guide and holds the measured figures.
"""
