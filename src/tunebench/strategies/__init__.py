"""Customization strategies measured side by side: prompting, RAG and fine-tuning on the same tasks.

    tunebench strategies --profile smoke --out runs/strategies
    tunebench advise runs/strategies/results.json --update-frequency weekly --latency-budget-ms 800
"""
