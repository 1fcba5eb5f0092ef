"""The bottom layer: what every app shares and nothing of ours below it.

errors (the one AppError contract), api (the error body and helpers for ninja routers), http
(outgoing clients and the one retry policy), tokens (token counting), concurrency.
`core` imports no app package; `videos`, `chat` and `chatbili_site` may all import it.
"""
