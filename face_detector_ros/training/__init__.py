"""Train and export the MobileNet-SSD face detector (needs PyTorch: pip install .[train])."""

try:
    import torch  # noqa: F401
except ImportError:
    # A one-line message for the console scripts and for anyone importing this package.
    raise SystemExit('face_detector_ros.training needs PyTorch, which is not installed: '
                     'pip install .[train]') from None
