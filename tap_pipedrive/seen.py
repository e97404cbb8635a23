"""The primary keys one walk has read, so a record a later page repeats is emitted once.

Pipedrive's ids are integers counted up per company, so a bit per id up to the largest one
read costs far less than a set (a set holds ~60 bytes per int key: 60 MB per million records).
The bitmap grows only while it stays smaller than a set of the keys read would be; other keys
(text ids, composite keys, far outliers) go into a set.
"""

from __future__ import annotations

from collections.abc import Hashable

_SET_BYTES_PER_KEY = 60  # what a set spends per int key, about
_BITMAP_FREE_BYTES = 1 << 16  # a bitmap this small is always worth it


class SeenKeys:
    """`add(key)` is True the first time a key is given, False after."""

    def __init__(self) -> None:
        self._bits = bytearray()
        self._others: set[Hashable] = set()
        self._count = 0

    def add(self, key: Hashable) -> bool:
        if type(key) is int and key >= 0:
            byte, bit = key >> 3, 1 << (key & 7)
            if byte < len(self._bits) or self._grow(byte):
                if self._bits[byte] & bit or (self._others and key in self._others):
                    return False  # (an int set aside before the bitmap grew to hold it)
                self._bits[byte] |= bit
                self._count += 1
                return True
        if key in self._others:
            return False
        self._others.add(key)
        self._count += 1
        return True

    def _grow(self, byte: int) -> bool:
        """Make the bitmap hold `byte` if it stays cheaper than a set of the keys read."""
        most = max(_BITMAP_FREE_BYTES, _SET_BYTES_PER_KEY * (self._count + 1))
        if byte >= most:
            return False
        size = min(max(byte + 1, 2 * len(self._bits)), most)  # doubling: few copies
        self._bits.extend(bytes(size - len(self._bits)))
        return True

    def __len__(self) -> int:
        return self._count
