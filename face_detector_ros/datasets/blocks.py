"""Text files of counted blocks (a name, a count, then that many lines): WIDER and FDDB."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from face_detector_ros.datasets.annotations import DatasetError


def read_counted_blocks(path: str | Path, parse_line: Callable[[Path, int, str], object],
                        empty_filler: Callable[[str], bool] | None = None
                        ) -> list[tuple[str, list]]:
    """
    Return [(name, [parse_line(path, line_number, line), ...])] for each block of a file.

    Blank lines are ignored. `empty_filler(line)` recognises the line some files put after a
    count of 0 (WIDER's row of zeros); it is skipped when present. Errors name file and line.
    """
    path = Path(path)
    try:
        lines = [line.strip() for line in path.read_text(encoding='utf-8').splitlines()]
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f'{path}: cannot read ({error})') from None
    numbered = [(number, line) for number, line in enumerate(lines, 1) if line]
    blocks = []
    position = 0
    while position < len(numbered):
        name_number, name = numbered[position]
        if position + 1 >= len(numbered):
            raise DatasetError(f'{path}:{name_number}: {name} has no face count')
        number, count_text = numbered[position + 1]
        try:
            count = int(count_text)
        except ValueError:
            raise DatasetError(f'{path}:{number}: expected the face count of {name}, '
                               f'found {count_text!r}') from None
        if count < 0:
            raise DatasetError(f'{path}:{number}: negative face count {count} for {name}')
        position += 2
        block = numbered[position:position + count]
        if len(block) < count:
            raise DatasetError(f'{path}:{name_number}: the file ends inside the block of {name}'
                               f' ({len(block)} of its {count} face lines)')
        position += count
        if (count == 0 and empty_filler is not None and position < len(numbered)
                and empty_filler(numbered[position][1])):
            position += 1
        blocks.append((name, [parse_line(path, number, line) for number, line in block]))
    return blocks
