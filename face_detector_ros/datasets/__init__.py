"""Face datasets: annotation types, Pascal VOC, YOLO, WIDER Face and FDDB formats, filters."""
