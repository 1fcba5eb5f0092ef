"""Writes of the chat app, one module per entity (HackSoft style: `<entity>_<action>` functions with
keyword-only arguments). Streams, consumers, the API and commands call these; reads are in
chat.selectors."""
