"""The main job: LLaVA-1.5 vs MiniGPT-4 on the same parts and data, measured side by side."""
