"""The local OpenAI-compatible server: app (Starlette), preview engine, embedded start."""
