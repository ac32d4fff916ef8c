"""Write a VOC dataset with SSD-Caffe lists: Annotations/, lists, name sizes and a label map."""

from __future__ import annotations

from collections.abc import Sequence
import os
from pathlib import Path
import shutil

from face_detector_ros.datasets.annotations import DatasetError, ImageAnnotation
from face_detector_ros.datasets.lists import labelmap_text, shuffled, write_rows
from face_detector_ros.datasets.voc import write_voc_xml


def sample_id(relative_image_path: str | Path) -> str:
    """Return a file-name-safe unique id for an image: its relative path without extension."""
    return Path(relative_image_path).with_suffix('').as_posix().replace('/', '_')


class VocSetWriter:
    """
    Writes annotations into `staging`, a folder that will be renamed to `final_dir`.

    List paths are relative to `final_dir`, so the dataset can be moved with its images when the
    images are copied (`copy_images`), or with the source dataset beside it otherwise.
    """

    def __init__(self, staging: str | Path, final_dir: str | Path,
                 copy_images: bool = False) -> None:
        """Prepare the Annotations folder in `staging`."""
        self.staging = Path(staging)
        self.final_dir = Path(final_dir).resolve()
        self.copy_images = copy_images
        self.lists = {}
        self.seen = set()
        (self.staging / 'Annotations').mkdir()

    def add(self, list_name: str, relative_image: str | Path, image_path: str | Path,
            annotation: ImageAnnotation) -> None:
        """Write one image's annotation and remember it for the list `list_name`."""
        ident = sample_id(relative_image)
        if ident in self.seen:
            raise DatasetError(f'{relative_image}: listed twice')
        self.seen.add(ident)
        xml = Path('Annotations', f'{ident}.xml')
        write_voc_xml(annotation, self.staging / xml)
        if self.copy_images:
            image = Path('images', relative_image)
            (self.staging / image).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(image_path, self.staging / image)
        else:
            image = Path(os.path.relpath(Path(image_path).resolve(), self.final_dir))
        self.lists.setdefault(list_name, []).append(
            (image.as_posix(), xml.as_posix(), ident, annotation.height, annotation.width))

    def finish(self, class_names: Sequence[str], seed: int) -> None:
        """Write the lists (trainval shuffled by `seed`, others in order) and the label map."""
        for list_name, rows in self.lists.items():
            if list_name == 'trainval':
                rows = shuffled(rows, seed)
            write_rows(self.staging / f'{list_name}.txt', [row[:2] for row in rows])
            write_rows(self.staging / f'{list_name}_name_size.txt', [row[2:] for row in rows])
        (self.staging / 'labelmap.prototxt').write_text(labelmap_text(class_names))

    def counts(self) -> dict[str, int]:
        """Return the number of images per list."""
        return {name: len(rows) for name, rows in self.lists.items()}
