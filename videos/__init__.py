"""ChatBili's video app. The link helpers are pure, so importing them is safe before Django setup."""

from videos.links import av_to_bv, bv_to_av, parse_video_ref, wbi_sign

__all__ = ["av_to_bv", "bv_to_av", "parse_video_ref", "wbi_sign"]
