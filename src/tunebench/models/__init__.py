"""The two vision-language designs on shared parts: LLaVA-1.5 and MiniGPT-4."""
