"""ChatBili as a Model Context Protocol server: a streamable-HTTP endpoint at /mcp (official `mcp` SDK).

A personal API token (`Authorization: Bearer cbt_…`) names the user; every tool runs as that user
through the same selectors, services and generation gate as the API, so ownership and quotas are
the same. Modules: auth (token → user), calls (the per-call wrapper: language, database thread,
errors), errors (this package's error kinds), selectors (a part of the caller's library), schemas
(typed outputs and their links), tools and library_tools (the tools), resources, server (the
MCPServer and its stateless streamable-HTTP app, started lazily because daphne sends no lifespan
events).
"""
