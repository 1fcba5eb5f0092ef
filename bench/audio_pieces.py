"""Audio pieces bench: how long cutting a long audio file into ASR-sized pieces takes (videos.audio).

Makes N minutes of numbered tones (tests.asr.generated_audio, mono AAC 16 kHz at 24 kbit/s), then
splits it with `split_audio` at a given piece size and overlap. Packets are copied, not re-encoded,
so the time should grow with the file's size, not its duration. No network, no database.
Run: .venv/bin/python bench/audio_pieces.py [--minutes 60] [--max-mb 3] [--overlap 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from common import machine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--max-mb", type=float, default=3.0)
    parser.add_argument("--overlap", type=float, default=20.0)
    args = parser.parse_args()
    import django

    django.setup()
    from tests.asr.generated_audio import LINE_SECONDS, write_numbered_tones
    from videos.audio import split_audio

    print(machine())
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        audio = write_numbered_tones(Path(folder, "tones.m4a"), lines=args.minutes * 60 // LINE_SECONDS)
        made = time.perf_counter() - started
        pieces_dir = Path(folder, "pieces")
        pieces_dir.mkdir()
        started = time.perf_counter()
        pieces = split_audio(
            audio, max_bytes=int(args.max_mb * 1024 * 1024), overlap_seconds=args.overlap, into=pieces_dir
        )
        split = time.perf_counter() - started
        size = audio.stat().st_size
        print(f"audio: {args.minutes} min, {size / 1e6:.1f} MB, made in {made:.1f} s")
        print(
            f"split: {len(pieces)} pieces of at most {args.max_mb:g} MiB, overlap {args.overlap:g} s, in {split:.2f} s"
        )
        largest = max(piece.path.stat().st_size for piece in pieces)
        print(f"       ({size / 1e6 / split:.0f} MB/s; largest piece {largest / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
