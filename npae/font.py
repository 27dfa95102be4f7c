"""A 3x5 pixel bitmap font, so that a watermark of text looks the same everywhere.

:func:`render_text` draws text with it, for :class:`npae.noise.OverlayNoise`'s stamps;
no system font is read.
"""

from __future__ import annotations

import numpy as np

from npae.arguments import check_int

__all__ = ["FONT", "render_text"]

#: A 3x5 pixel font for :func:`render_text`: five rows of three pixels per character.
FONT = {
    "A": "010101111101101", "B": "110101110101110", "C": "011100100100011",
    "D": "110101101101110", "E": "111100110100111", "F": "111100110100100",
    "G": "011100101101011", "H": "101101111101101", "I": "111010010010111",
    "J": "001001001101010", "K": "101101110101101", "L": "100100100100111",
    "M": "101111111101101", "N": "110101101101101", "O": "010101101101010",
    "P": "110101110100100", "Q": "010101101110011", "R": "110101110101101",
    "S": "011100010001110", "T": "111010010010010", "U": "101101101101111",
    "V": "101101101101010", "W": "101101111111101", "X": "101101010101101",
    "Y": "101101010010010", "Z": "111001010100111", "0": "111101101101111",
    "1": "010110010010111", "2": "110001010100111", "3": "110001010001110",
    "4": "101101111001001", "5": "111100110001110", "6": "011100111101111",
    "7": "111001010010010", "8": "111101111101111", "9": "111101111001110",
    " ": "000000000000000", "-": "000000111000000", ".": "000000000000010",
    "+": "000010111010000", "/": "001001010100100",
}


def render_text(text: str, scale: int = 1) -> np.ndarray:
    """``text`` drawn in a 3x5 pixel font: a float array of 0s and 1s, ``5 * scale`` rows
    by ``(4 * len(text) - 1) * scale`` columns (one blank column between characters).

    Letters (any case), digits, space and ``- . + /`` are known; anything else is a
    ``ValueError``. The same text gives the same pixels everywhere (no system fonts).
    """
    if not isinstance(text, str) or not text:
        raise ValueError(f"render_text: text must be a non-empty str, got {text!r}")
    scale = check_int(scale, "render_text", "scale", 1)
    unknown = sorted({c for c in text.upper() if c not in FONT})
    if unknown:
        raise ValueError(f"render_text: no glyph for {unknown}; the font has "
                         f"{''.join(sorted(FONT))!r}")
    glyphs = [np.array([int(b) for b in FONT[c]], dtype=np.float64).reshape(5, 3)
              for c in text.upper()]
    gap = np.zeros((5, 1))
    line = np.concatenate([part for g in glyphs for part in (g, gap)][:-1], axis=1)
    return np.kron(line, np.ones((scale, scale)))
